"""The shared floor every component imports (clock, timers, logs, control plane, process
helpers, agent directory, certificates); it imports no component."""
