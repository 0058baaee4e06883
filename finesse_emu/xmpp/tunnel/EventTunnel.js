/*
 * finesse-emu's EventTunnel (written for this project; docs/finesse.md, "The EventTunnel").
 *
 * A page of the Notification Service's origin that a Finesse client loads in a hidden iframe. The
 * parent frame hands it the agent's credentials with window.postMessage; the tunnel opens the XMPP
 * session itself (WebSocket, RFC 7395, at /ws/, or BOSH, XEP-0124/0206, at /http-bind/, both on
 * this page's own origin) and relays every pubsub notification and presence to the parent.
 *
 * Messages both ways are strings "type|data", with the types of Cisco's documentation: EVENT 0,
 * ID 1, PASSWORD 2, RESOURCEID 3, STATUS 4, XMPPDOMAIN 5, PUBSUBDOMAIN 6, SUBSCRIBE 7, UNSUBSCRIBE 8,
 * PRESENCE 9, CONNECT_REQ 10, DISCONNECT_REQ 11, NOTIFICATION_CONNECTION_TYPE 12, LOGGING 13,
 * SUBSCRIPTIONS_REQ 14, XMPP_DISCONNECT_PROPERTIES 15, FINESSE_CONTAINER_CONFIG 16.
 *
 * No dependency: the XMPP client below is the small part of RFC 6120 a Finesse client uses
 * (SASL PLAIN, resource binding, presence, iq, XEP-0060 pubsub, XEP-0199 ping).
 */
var finesse = window.finesse || {};
window.finesse = finesse;

(function () {
    "use strict";

    var NS = {
        framing: "urn:ietf:params:xml:ns:xmpp-framing",
        streams: "http://etherx.jabber.org/streams",
        sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
        bind: "urn:ietf:params:xml:ns:xmpp-bind",
        session: "urn:ietf:params:xml:ns:xmpp-session",
        stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
        httpbind: "http://jabber.org/protocol/httpbind",
        xbosh: "urn:xmpp:xbosh",
        pubsub: "http://jabber.org/protocol/pubsub",
        pubsubEvent: "http://jabber.org/protocol/pubsub#event",
        ping: "urn:xmpp:ping"
    };

    var TYPES = {
        EVENT: 0, ID: 1, PASSWORD: 2, RESOURCEID: 3, STATUS: 4, XMPPDOMAIN: 5, PUBSUBDOMAIN: 6,
        SUBSCRIBE: 7, UNSUBSCRIBE: 8, PRESENCE: 9, CONNECT_REQ: 10, DISCONNECT_REQ: 11,
        NOTIFICATION_CONNECTION_TYPE: 12, LOGGING: 13, SUBSCRIPTIONS_REQ: 14,
        XMPP_DISCONNECT_PROPERTIES: 15, FINESSE_CONTAINER_CONFIG: 16
    };

    function esc(text) {
        return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
            .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
    }

    function parseXml(text) {
        var doc = new DOMParser().parseFromString(text, "text/xml");
        if (!doc.documentElement || doc.getElementsByTagName("parsererror").length) {
            return null;
        }
        return doc.documentElement;
    }

    function children(el, localName, ns) {
        var out = [], i, c;
        for (i = 0; el && i < el.childNodes.length; i++) {
            c = el.childNodes[i];
            if (c.nodeType === 1 && (!localName || c.localName === localName) &&
                    (!ns || c.namespaceURI === ns)) {
                out.push(c);
            }
        }
        return out;
    }

    function child(el, localName, ns) {
        return children(el, localName, ns)[0] || null;
    }

    function utf8Base64(text) {
        var bytes = new TextEncoder().encode(text), bin = "", i;
        for (i = 0; i < bytes.length; i++) {
            bin += String.fromCharCode(bytes[i]);
        }
        return btoa(bin);
    }

    // ---- transports: deliver top-level elements (features, success, iq, ...) ------------------

    /* RFC 7395: one element per WebSocket message, subprotocol "xmpp". */
    function WebSocketTransport(url, domain, handlers) {
        var ws = null, closed = false;
        this.kind = "websocket";
        this.open = function () {
            ws = new WebSocket(url, "xmpp");
            ws.onopen = function () { ws.send(openElement()); };
            ws.onmessage = function (e) {
                var el = typeof e.data === "string" ? parseXml(e.data) : null;
                if (!el) {
                    return;
                }
                if (el.localName === "open" && el.namespaceURI === NS.framing) {
                    return;
                }
                if (el.localName === "close" && el.namespaceURI === NS.framing) {
                    finish("closed by the server");
                    return;
                }
                handlers.element(el);
            };
            ws.onerror = function () { finish("WebSocket error"); };
            ws.onclose = function () { finish("WebSocket closed"); };
        };
        function openElement() {
            return "<open xmlns='" + NS.framing + "' to='" + esc(domain) + "' version='1.0'/>";
        }
        function finish(why) {
            if (!closed) {
                closed = true;
                handlers.closed(why);
            }
        }
        this.restart = function () { ws.send(openElement()); };
        this.send = function (xml) {
            if (ws && ws.readyState === WebSocket.OPEN) {
                ws.send(xml);
            }
        };
        this.close = function () {
            if (ws && ws.readyState === WebSocket.OPEN) {
                ws.send("<close xmlns='" + NS.framing + "'/>");
            }
            if (ws) {
                ws.close();
            }
            closed = true;
        };
    }

    /* XEP-0124/0206: at most two requests in flight (hold=1), one always held for the server. */
    function BoshTransport(url, domain, handlers) {
        var rid = Math.floor(Math.random() * 4294967295) % 1000000000 + 1000,
            sid = null, queue = [], inFlight = 0, closed = false, restartPending = false;
        this.kind = "bosh";
        function body(attrs, payload) {
            return "<body xmlns='" + NS.httpbind + "' rid='" + (rid++) + "'" +
                (sid ? " sid='" + esc(sid) + "'" : "") + attrs + ">" + payload + "</body>";
        }
        function post(text) {
            inFlight++;
            var xhr = new XMLHttpRequest();
            xhr.open("POST", url, true);
            xhr.setRequestHeader("Content-Type", "text/xml; charset=utf-8");
            xhr.onreadystatechange = function () {
                if (xhr.readyState !== 4 || closed) {
                    return;
                }
                inFlight--;
                var el = xhr.status === 200 ? parseXml(xhr.responseText) : null;
                if (!el || el.localName !== "body") {
                    finish("BOSH request failed (HTTP " + xhr.status + ")");
                    return;
                }
                if (!sid && el.getAttribute("sid")) {
                    sid = el.getAttribute("sid");
                }
                children(el).forEach(function (c) {
                    if (!closed) {
                        handlers.element(c);
                    }
                });
                if (el.getAttribute("type") === "terminate") {
                    finish("BOSH session terminated: " + (el.getAttribute("condition") || ""));
                    return;
                }
                pump();
            };
            xhr.send(text);
        }
        function pump() {
            if (closed || !sid) {
                return;
            }
            if (restartPending) {
                restartPending = false;
                post(body(" to='" + esc(domain) + "' xml:lang='en' xmpp:restart='true' xmlns:xmpp='" +
                    NS.xbosh + "'", ""));
                return;
            }
            if (queue.length && inFlight < 2) {
                post(body("", queue.splice(0, queue.length).join("")));
            } else if (!inFlight) {
                post(body("", ""));  // the request the server holds for what it has to send
            }
        }
        function finish(why) {
            if (!closed) {
                closed = true;
                handlers.closed(why);
            }
        }
        this.open = function () {
            post(body(" to='" + esc(domain) + "' xml:lang='en' wait='60' hold='1' ver='1.6'" +
                " content='text/xml; charset=utf-8' xmpp:version='1.0' xmlns:xmpp='" + NS.xbosh + "'", ""));
        };
        this.restart = function () {
            restartPending = true;
            if (inFlight < 2) {
                pump();
            }
        };
        this.send = function (xml) {
            queue.push(xml);
            pump();
        };
        this.close = function () {
            if (sid && !closed) {
                var payload = queue.splice(0, queue.length).join("") +
                    "<presence type='unavailable' xmlns='jabber:client'/>";
                closed = true;
                var xhr = new XMLHttpRequest();
                xhr.open("POST", url, true);
                xhr.setRequestHeader("Content-Type", "text/xml; charset=utf-8");
                xhr.send(body(" type='terminate'", payload));
            }
            closed = true;
        };
    }

    // ---- the XMPP session ------------------------------------------------------------------

    /* listener: status(name, detail), stanza(el). Statuses: connecting, online (bound), authfail,
       conflict, disconnected. */
    function XmppSession(transportKind, domain, user, password, resource, listener) {
        var base = window.location.host, transport, state = "connecting", iqs = {}, nextId = 1,
            self = this;
        this.jid = null;
        if (transportKind === "bosh") {
            transport = new BoshTransport(window.location.protocol + "//" + base + "/http-bind/",
                domain, { element: onElement, closed: onClosed });
        } else {
            transport = new WebSocketTransport(
                (window.location.protocol === "https:" ? "wss:" : "ws:") + "//" + base + "/ws/",
                domain, { element: onElement, closed: onClosed });
        }
        this.url = transportKind;

        function setState(next, detail) {
            if (state === "disconnected") {
                return;
            }
            state = next;
            listener.status(next, detail);
        }
        function onClosed(why) {
            var pending = iqs;
            iqs = {};
            Object.keys(pending).forEach(function (id) { pending[id].fail(null); });
            setState("disconnected", why);
        }
        function onElement(el) {
            var name = el.localName;
            if (name === "error" && el.namespaceURI === NS.streams) {
                setState(child(el, "conflict") ? "conflict" : "disconnected", "stream error");
                transport.close();
                onClosed("stream error");
                return;
            }
            if (name === "features") {
                return onFeatures(el);
            }
            if (el.namespaceURI === NS.sasl) {
                if (name === "success") {
                    state = "authenticated";
                    transport.restart();
                } else if (name === "failure") {
                    setState("authfail", "SASL failure");
                    transport.close();
                    onClosed("SASL failure");
                }
                return;
            }
            if (name === "iq") {
                return onIq(el);
            }
            if (name === "message" || name === "presence") {
                listener.stanza(el);
            }
        }
        function onFeatures(el) {
            var mechs, bind, sess;
            if (state === "connecting") {
                mechs = children(child(el, "mechanisms", NS.sasl), "mechanism").map(function (m) {
                    return m.textContent;
                });
                if (mechs.indexOf("PLAIN") < 0) {
                    setState("authfail", "the server offers no SASL PLAIN");
                    transport.close();
                    onClosed("no PLAIN");
                    return;
                }
                transport.send("<auth xmlns='" + NS.sasl + "' mechanism='PLAIN'>" +
                    utf8Base64("\u0000" + user + "\u0000" + password) + "</auth>");
                return;
            }
            if (state !== "authenticated") {
                return;
            }
            bind = child(el, "bind", NS.bind);
            sess = child(el, "session", NS.session);
            self.iq("set", null, "<bind xmlns='" + NS.bind + "'>" +
                (resource ? "<resource>" + esc(resource) + "</resource>" : "") + "</bind>",
                function (res) {
                    var jid = child(child(res, "bind", NS.bind), "jid");
                    self.jid = jid ? jid.textContent : null;
                    var done = function () { state = "bound"; listener.status("online", self.jid); };
                    // RFC 3921 session establishment, for servers that still require it.
                    if (sess && !child(sess, "optional")) {
                        self.iq("set", null, "<session xmlns='" + NS.session + "'/>", done,
                            function () { done(); });
                    } else {
                        done();
                    }
                },
                function () {
                    setState("disconnected", "resource binding refused");
                    transport.close();
                    onClosed("bind refused");
                });
            if (!bind) {
                listener.log("the server did not offer resource binding");
            }
        }
        function onIq(el) {
            var type = el.getAttribute("type"), id = el.getAttribute("id"), handler;
            if (type === "result" || type === "error") {
                handler = iqs[id];
                if (handler) {
                    delete iqs[id];
                    clearTimeout(handler.timer);
                    (type === "result" ? handler.ok : handler.fail)(el);
                }
                return;
            }
            if (type !== "get" && type !== "set") {
                return;
            }
            var from = el.getAttribute("from");
            var to = from ? " to='" + esc(from) + "'" : "";
            if (type === "get" && child(el, "ping", NS.ping)) {
                transport.send("<iq type='result' id='" + esc(id || "") + "'" + to + "/>");
                return;
            }
            // RFC 6120 8.4: an entity must answer every get/set it does not understand.
            transport.send("<iq type='error' id='" + esc(id || "") + "'" + to + "><error type='cancel'>" +
                "<service-unavailable xmlns='" + NS.stanzas + "'/></error></iq>");
        }

        this.open = function () { transport.open(); };
        this.send = function (xml) { transport.send(xml); };
        this.close = function () {
            transport.close();
            onClosed("closed by the client");
        };
        /* An iq with a reply callback; timeout (ms) makes it fail with null. */
        this.iq = function (type, to, payload, ok, fail, timeout) {
            var id = "et" + (nextId++);
            iqs[id] = { ok: ok || function () {}, fail: fail || function () {}, timer: null };
            if (timeout) {
                iqs[id].timer = setTimeout(function () {
                    var h = iqs[id];
                    if (h) {
                        delete iqs[id];
                        h.fail(null);
                    }
                }, timeout);
            }
            transport.send("<iq type='" + type + "' id='" + id + "'" + (to ? " to='" + esc(to) + "'" : "") +
                " xmlns='jabber:client'>" + payload + "</iq>");
        };
    }

    // ---- the tunnel ------------------------------------------------------------------------

    finesse.EventTunnel = function () {
        var id, password, xmppDomain, pubsubDomain, resource,
            // The 12.x tunnel's own default for a parent that never sends type 12 (the 10.x
            // library never does): bosh. The Finesse desktop sends websocket.
            connectionType = "bosh",
            session = null, connected = false, initPresence = false, nodes = [],
            pingTimer = null, pingFailures = 0,
            props = { xmppFailoverRequestMaxRetry: 2, xmppRequestTimeout: 10000,
                xmppFailoverDetectionPingInterval: 10000 },
            containerConfig = null;

        function send(type, data) {
            // The parent's origin is not known to the tunnel (any page may embed it); what it relays
            // is what the XMPP server sent to the credentials the parent gave.
            window.parent.postMessage(type + "|" + data, "*");
        }
        function log(msg) {
            send(TYPES.LOGGING, "EventTunnel: " + msg);
        }
        function sendStatus(status) {
            send(TYPES.RESOURCEID, resource || "");
            send(TYPES.STATUS, status);
        }
        function stopPing() {
            clearInterval(pingTimer);
            pingTimer = null;
        }
        function startPing(s) {
            stopPing();
            pingFailures = 0;
            // "Cisco Finesse Notification Service expects XMPP client ping every 20 seconds."
            pingTimer = setInterval(function () {
                s.iq("get", xmppDomain, "<ping xmlns='" + NS.ping + "'/>",
                    function () { pingFailures = 0; },
                    function () {
                        pingFailures++;
                        if (pingFailures >= props.xmppFailoverRequestMaxRetry && s === session) {
                            log("no answer to " + pingFailures + " pings: disconnected");
                            s.close();
                        }
                    }, props.xmppRequestTimeout);
            }, props.xmppFailoverDetectionPingInterval);
        }
        function isFinesseUser(jid) {
            var at = (jid || "").indexOf("@"), user = at > 0 ? jid.substring(0, at) : "";
            return user === "finesse" || user.indexOf("cuic.") > -1 || user.indexOf("ccx.") > -1;
        }
        function onPresence(el) {
            var from = el.getAttribute("from"), type = el.getAttribute("type");
            if (!from) {
                return;
            }
            // Connected only once the finesse user's presence arrived: the server routes no event
            // to the session before its initial presence is available.
            if (!initPresence && connected && isFinesseUser(from) && type !== "unavailable") {
                initPresence = true;
                sendStatus("connected");
            }
            send(TYPES.PRESENCE, "<presence><from>" + esc(from) + "</from>" +
                (type ? "<type>" + esc(type) + "</type>" : "") + "</presence>");
        }
        function onMessage(el) {
            var event = child(el, "event", NS.pubsubEvent);
            children(event, "items").forEach(function (items) {
                var node = items.getAttribute("node");
                if (!node) {
                    log("an event without a node was dropped");
                    return;
                }
                children(items, "item").forEach(function (item) {
                    var note = child(item, "notification");
                    var text = note ? note.textContent : item.textContent;
                    // The node path, then the Update: "/finesse/api/User/1001<Update>...</Update>".
                    send(TYPES.EVENT, encodeURI(node) + text);
                });
            });
        }
        function connect(user, pass, domain, type) {
            if (session) {
                var old = session;
                session = null;
                old.close();
            }
            user = String(user).toLowerCase();
            connected = false;
            initPresence = false;
            if (!resource) {
                resource = "tunnel-" + Math.random().toString(36).substring(2, 10);
            }
            var kind = String(type || connectionType).toLowerCase() === "websocket" ? "websocket" : "bosh";
            log("connecting " + user + "@" + domain + "/" + resource + " over " + kind);
            var s = new XmppSession(kind, domain, user, pass, resource, {
                status: function (name, detail) {
                    if (s !== session) {
                        return;
                    }
                    if (name === "online") {
                        connected = true;
                        s.send("<presence xmlns='jabber:client'/>");
                        if (kind === "websocket") {
                            startPing(s);
                        }
                        return;
                    }
                    connected = false;
                    initPresence = false;
                    stopPing();
                    log("status " + name + (detail ? " (" + detail + ")" : ""));
                    if (name === "authfail") {
                        sendStatus("unauthorized");
                        session = null;
                    } else if (name === "conflict") {
                        sendStatus("conflict");
                        session = null;
                    } else if (name === "disconnected") {
                        sendStatus("disconnected");
                        session = null;
                    } else {
                        sendStatus(name);
                    }
                },
                stanza: function (el) {
                    if (s !== session) {
                        return;
                    }
                    if (el.localName === "presence") {
                        onPresence(el);
                    } else {
                        onMessage(el);
                    }
                },
                log: log
            });
            session = s;
            sendStatus("connecting");
            s.open();
        }
        function pubsubIq(verb, node, reply) {
            if (!session || !connected || !pubsubDomain) {
                send(reply, node + "|<ApiErrors/>");
                return;
            }
            var jid = session.jid || "";
            session.iq("set", pubsubDomain, "<pubsub xmlns='" + NS.pubsub + "'><" + verb + " node='" +
                esc(node) + "' jid='" + esc(jid) + "'/></pubsub>",
                function () {
                    if (verb === "subscribe") {
                        if (nodes.indexOf(node) < 0) {
                            nodes.push(node);
                        }
                    } else {
                        nodes = nodes.filter(function (n) { return n !== node; });
                    }
                    send(reply, node);
                },
                function () { send(reply, node + "|<ApiErrors/>"); },
                props.xmppRequestTimeout);
        }
        function subscriptions() {
            if (!session || !connected || !pubsubDomain) {
                send(TYPES.SUBSCRIPTIONS_REQ, "|<ApiErrors/>");
                return;
            }
            session.iq("get", pubsubDomain, "<pubsub xmlns='" + NS.pubsub + "'><subscriptions/></pubsub>",
                function (res) {
                    var subs = child(child(res, "pubsub", NS.pubsub), "subscriptions");
                    send(TYPES.SUBSCRIPTIONS_REQ, JSON.stringify(children(subs, "subscription").map(
                        function (s) {
                            return { node: s.getAttribute("node"), jid: s.getAttribute("jid"),
                                status: s.getAttribute("subscription") };
                        })));
                },
                function () { send(TYPES.SUBSCRIPTIONS_REQ, "|<ApiErrors/>"); },
                props.xmppRequestTimeout);
        }
        function disconnect() {
            send(TYPES.STATUS, "unloading");
            nodes.slice().forEach(function (node) {
                if (session && connected) {
                    session.send("<iq type='set' id='unsub" + Math.random().toString(36).substring(2) +
                        "' to='" + esc(pubsubDomain) + "' xmlns='jabber:client'><pubsub xmlns='" +
                        NS.pubsub + "'><unsubscribe node='" + esc(node) + "' jid='" +
                        esc(session.jid || "") + "'/></pubsub></iq>");
                }
            });
            nodes = [];
            stopPing();
            if (session) {
                var s = session;
                session = null;
                connected = false;
                initPresence = false;
                s.close();
                sendStatus("disconnected");
            }
        }
        function connectReq(data) {
            var info = parseXml(data);
            if (!info || info.localName !== "connInfo") {
                log("CONNECT_REQ without a connInfo document: ignored");
                return;
            }
            var get = function (name) {
                var el = child(info, name);
                return el ? el.textContent : undefined;
            };
            if (get("id") === undefined || get("password") === undefined || get("xmppDomain") === undefined) {
                log("CONNECT_REQ without id, password and xmppDomain: ignored");
                return;
            }
            connect(get("id"), get("password"), get("xmppDomain"),
                get("notificationConnectionType") || connectionType);
        }
        function setProperties(data) {
            var parsed = JSON.parse(data);
            Object.keys(props).forEach(function (key) {
                var v = parseInt(parsed[key], 10);
                if (!isNaN(v) && v > 0) {
                    props[key] = v;
                }
            });
        }

        function onParentMessage(e) {
            if (typeof e.data !== "string" || e.source === window) {
                return;
            }
            var pos = e.data.indexOf("|");
            if (pos < 1) {
                return;
            }
            var type = Number(e.data.substring(0, pos)), data = e.data.substring(pos + 1);
            switch (type) {
            case TYPES.ID: id = data; break;
            case TYPES.PASSWORD: password = data; break;
            case TYPES.XMPPDOMAIN: xmppDomain = data; break;
            case TYPES.RESOURCEID: resource = data; return;
            case TYPES.PUBSUBDOMAIN: pubsubDomain = data; return;
            case TYPES.SUBSCRIBE: pubsubIq("subscribe", data, TYPES.SUBSCRIBE); return;
            case TYPES.UNSUBSCRIBE: pubsubIq("unsubscribe", data, TYPES.UNSUBSCRIBE); return;
            case TYPES.SUBSCRIPTIONS_REQ: subscriptions(); return;
            case TYPES.CONNECT_REQ: connectReq(data); return;
            case TYPES.DISCONNECT_REQ: disconnect(); return;
            case TYPES.NOTIFICATION_CONNECTION_TYPE: connectionType = data; break;
            case TYPES.XMPP_DISCONNECT_PROPERTIES: setProperties(data); return;
            case TYPES.FINESSE_CONTAINER_CONFIG: containerConfig = data; return;
            default: return;  // EVENT, STATUS, PRESENCE, LOGGING go to the parent, never come from it
            }
            // The 10.x library sends ID, XMPPDOMAIN, PASSWORD (and PUBSUBDOMAIN) and no CONNECT_REQ:
            // connect as soon as the three are known, then forget the password.
            if (id !== undefined && password !== undefined && xmppDomain !== undefined) {
                var p = password;
                password = undefined;
                connect(id, p, xmppDomain, connectionType);
            }
        }

        this.init = function () {
            window.addEventListener("message", function (e) {
                try {
                    onParentMessage(e);
                } catch (err) {
                    log("message ignored: " + err);
                }
            }, false);
            window.addEventListener("beforeunload", function () {
                if (session) {
                    disconnect();
                }
            });
            // "loaded": the parent may send the domains and credentials now.
            send(TYPES.STATUS, "loaded");
        };
        /* What the tunnel keeps of a FINESSE_CONTAINER_CONFIG message (it needs none of it). */
        this.containerConfig = function () { return containerConfig; };
    };
}());
