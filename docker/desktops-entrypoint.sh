#!/bin/sh
# emu-desktops COMMAND [ARG...]: run COMMAND ARG... --slice I/K in one replica of the compose
# service `desktops`, so that `docker compose up --scale desktops=K` splits the agents over K swarms.
#
#   DESKTOPS_SLICE=I/K     use exactly this slice (set it per replica when the lookup below cannot work)
#   DESKTOPS_REPLICAS=K    number of replicas (docker-compose.yml sets it, and deploy.replicas, from the
#                          same variable: DESKTOPS_REPLICAS=K docker compose up)
#   DESKTOPS_PROJECT       compose project name (docker-compose.yml passes ${COMPOSE_PROJECT_NAME})
#   DESKTOPS_SERVICE       service name (default desktops)
#
# Slices are finesse-emu swarm's: I/K with 0 <= I < K; replica n runs slice n-1.
#
# How a replica finds its number: Compose v2 names replica n `<project>-<service>-<n>` and the
# engine's DNS on the project network resolves container names. The replica looks up
# <project>-<service>-1 .. -K and takes the n whose address is its own (its hostname, the container
# id, is in its /etc/hosts). A replica numbered above K (a gap left by removed containers, or K not
# matching --scale) finds nothing and exits 2, instead of running a wrong or duplicate slice: so
# `--scale desktops=3` without DESKTOPS_REPLICAS=3 stops replicas 2 and 3 with that message. A lone
# container that is not a replica (`docker compose run desktops`, K=1, no replica 1) runs 0/1.
set -eu

die() {
    echo "emu-desktops: $*" >&2
    exit 2
}

[ "$#" -ge 1 ] || die "usage: emu-desktops COMMAND [ARG...] (runs COMMAND ARG... --slice I/K)"

if [ -n "${DESKTOPS_SLICE:-}" ]; then
    slice=$DESKTOPS_SLICE
else
    k=${DESKTOPS_REPLICAS:-1}
    case "$k" in '' | *[!0-9]* | 0*) die "DESKTOPS_REPLICAS must be a positive integer, got '$k'" ;; esac
    project=${DESKTOPS_PROJECT:-}
    [ -n "$project" ] || die "DESKTOPS_PROJECT is not set; set DESKTOPS_SLICE=I/$k for this replica"
    service=${DESKTOPS_SERVICE:-desktops}
    me=${HOSTNAME:-$(cat /etc/hostname)}
    own=$(getent hosts "$me" | awk '{ print $1; exit }') || true
    [ -n "$own" ] || die "cannot resolve my own address ($me); set DESKTOPS_SLICE=I/$k for this replica"
    n=
    first=
    i=1
    while [ "$i" -le "$k" ]; do
        addr=$(getent hosts "$project-$service-$i" | awk '{ print $1; exit }') || true
        [ "$i" -gt 1 ] || first=$addr
        if [ -n "$addr" ] && [ "$addr" = "$own" ]; then
            n=$i
            break
        fi
        i=$((i + 1))
    done
    if [ -z "$n" ] && [ "$k" -eq 1 ] && [ -z "$first" ]; then
        n=1 # a lone container not named as a replica (docker compose run): the whole range
    fi
    [ -n "$n" ] || die "I am none of $project-$service-1..$k (my address $own): set DESKTOPS_REPLICAS" \
        "to the --scale value, or DESKTOPS_SLICE=I/$k for this replica"
    slice="$((n - 1))/$k"
fi

echo "emu-desktops: slice $slice" >&2
exec "$@" --slice "$slice"
