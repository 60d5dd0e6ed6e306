// The node link over a real socket: a ClientWsLink dials serve() on an OS-chosen port, both
// sides bind RemoteEndpoints to their own actor system, and envelopes cross both ways. A wrong
// token is refused with 401 (with a node token set, so is the clients' token), and a LinkKeeper
// dials again after the server drops the socket.

import { afterEach, describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { ActorSystem, RealClock, createLogger, type ActorRef, type Message } from "../../runtime/index.ts";
import { ClientWsLink, LinkKeeper, RemoteEndpoint, type Link } from "../transport/index.ts";
import { NODE_LINK_PATH, serve, type HttpServer } from "./server.ts";

const TOKEN = "node-link-token-0123456789";
const clock = new RealClock();
const log = createLogger({ clock, sink: () => {} });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A queue of values pushed by callbacks, awaited one at a time. */
function queue<T>() {
  const items: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  return {
    push(v: T) {
      const w = waiters.shift();
      if (w) w(v);
      else items.push(v);
    },
    next(): Promise<T> {
      const v = items.shift();
      return v !== undefined ? Promise.resolve(v) : new Promise((r) => waiters.push(r));
    },
  };
}

/**
 * The error a promise rejects with. Used instead of `expect(p).rejects` on a promise still in
 * flight: with Bun 1.4.5, awaiting `.rejects` while the reply crosses a socket made the server
 * side see the socket drop (code 1006) before the reply frame arrived.
 */
function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => Promise.reject(new Error("expected a rejection")),
    (error: unknown) => error,
  );
}

function startServer(nodeToken?: string) {
  const accepted = queue<Link>();
  let acceptedCount = 0;
  const server: HttpServer = serve({
    app: new Hono(),
    hostname: "127.0.0.1",
    port: 0,
    log,
    token: TOKEN,
    nodeToken,
    onNodeLink: (link) => {
      cleanups.push(() => link.close());
      acceptedCount++;
      accepted.push(link);
    },
  });
  cleanups.push(() => server.stop());
  const wsUrl = `ws://127.0.0.1:${server.port}${NODE_LINK_PATH}`;
  return { server, accepted, wsUrl, acceptedCount: () => acceptedCount };
}

function system(name: string): ActorSystem {
  const s = new ActorSystem({ name, clock });
  cleanups.push(() => s.shutdown());
  return s;
}

type ControlMsg = { type: "register"; node_id: string; agent: ActorRef<Message> };
type NodeMsg = { type: "welcome"; text: string } | { type: "status" };

describe("node link over WebSocket", () => {
  test("envelopes cross both ways between two actor systems", async () => {
    const { server, accepted, wsUrl } = startServer();
    expect(server.port).toBeGreaterThan(0);
    const control = system("control");
    const node = system("node");

    await control.spawn<ControlMsg, { register: string }>("control/registry", () => ({
      receive(msg) {
        msg.agent.tell({ type: "welcome", text: `hello ${msg.node_id}` } as Message);
        return `registered ${msg.node_id}`;
      },
    }));
    const welcomed = queue<string>();
    await node.spawn<NodeMsg, { status: { busy: number } }>("node/agent", () => ({
      receive(msg) {
        if (msg.type === "welcome") welcomed.push(msg.text);
        else return { busy: 3 };
      },
    }));

    const clientLink = await ClientWsLink.connect(wsUrl, { token: TOKEN });
    cleanups.push(() => clientLink.close());
    const serverLink = await accepted.next();
    const atControl = new RemoteEndpoint(control, serverLink, { exports: ["control/"] });
    const atNode = new RemoteEndpoint(node, clientLink, { exports: ["node/"] });

    // Node → control: an ask carrying a ref, answered over the socket.
    const registry = atNode.remoteRef<ControlMsg, { register: string }>("control/registry");
    expect(await registry.ask({ type: "register", node_id: "n1", agent: node.ref("node/agent") })).toBe("registered n1");
    // Control → node: a tell through the ref that came over the socket.
    expect(await welcomed.next()).toBe("hello n1");
    // Control → node: an ask of its own.
    const agent = atControl.remoteRef<NodeMsg, { status: { busy: number } }>("node/agent");
    expect(await agent.ask({ type: "status" })).toEqual({ busy: 3 });
    // The exports hold across the socket too.
    const hidden = atControl.remoteRef<{ type: "x" }, { x: void }>("control/registry");
    expect(await failure(hidden.ask({ type: "x" }))).toMatchObject({ code: "ACTOR_STOPPED" });
  });

  test("what one side sends in one turn crosses the socket as one frame, in order", async () => {
    const { accepted, wsUrl } = startServer();
    const clientLink = await ClientWsLink.connect(wsUrl, { token: TOKEN });
    cleanups.push(() => clientLink.close());
    const serverLink = await accepted.next();
    const got = queue<string>();
    serverLink.onEnvelope((e) => got.push(e.id));
    const ids = Array.from({ length: 200 }, (_, i) => `e${i}`);
    for (const id of ids) expect(clientLink.send({ v: 1, id, to: "control/x", type: "t", payload: { type: "t", i: id } })).toBe(true);
    const received: string[] = [];
    for (const _ of ids) received.push(await got.next());
    expect(received).toEqual(ids);
    expect([clientLink.framesSent, clientLink.envelopesSent]).toEqual([1, 200]);
  });

  test("closing one side closes the other and fails its pending asks", async () => {
    const { accepted, wsUrl } = startServer();
    const node = system("node");
    const control = system("control");
    // Holds the reply until it stops, so no real timer outlives the test.
    await control.spawn("control/hang", (ctx) => {
      let held: { resolve(v: unknown): void } | undefined;
      return { receive: () => void (held = ctx.takeReply()), terminate: () => held?.resolve(undefined) };
    });
    const clientLink = await ClientWsLink.connect(wsUrl, { token: TOKEN });
    cleanups.push(() => clientLink.close());
    const serverLink = await accepted.next();
    new RemoteEndpoint(control, serverLink, { exports: ["control/"] });
    const atNode = new RemoteEndpoint(node, clientLink, { exports: [] });
    const pending = failure(atNode.remoteRef<{ type: "hang" }, { hang: void }>("control/hang").ask({ type: "hang" }, { timeoutMs: 60_000 }));
    const closed = new Promise<string>((r) => clientLink.onClose(r));
    serverLink.close("bye");
    expect(await closed).toContain("socket closed");
    expect(await pending).toMatchObject({ code: "UNREACHABLE" });
  });

  test("a wrong or missing token is refused with 401 and no link is made", async () => {
    const { server, wsUrl, acceptedCount } = startServer();
    await expect(ClientWsLink.connect(wsUrl, { token: "wrong-token-0123456789" })).rejects.toThrow(/closed before opening|failed to open/);
    await expect(ClientWsLink.connect(wsUrl)).rejects.toThrow(/closed before opening|failed to open/);
    expect(acceptedCount()).toBe(0);

    const wrong = await fetch(new URL(NODE_LINK_PATH, server.url), { headers: { authorization: "Bearer wrong-token-0123456789" } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ code: "BAD_TOKEN" });
    const missing = await fetch(new URL(NODE_LINK_PATH, server.url));
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: "MISSING_TOKEN" });
    // The right token still gets through on the same server.
    const ok = await ClientWsLink.connect(wsUrl, { token: TOKEN });
    cleanups.push(() => ok.close());
    expect(ok.open).toBe(true);
  });

  test("LinkKeeper dials again after the server drops the socket", async () => {
    const { accepted, wsUrl } = startServer();
    const ups = queue<Link>();
    const downs = queue<string>();
    const keeper = new LinkKeeper({
      clock,
      random: () => 0.5,
      log,
      backoff: { initialMs: 10, maxMs: 50 },
      connect: (signal) => ClientWsLink.connect(wsUrl, { token: TOKEN, signal }),
      onUp: (link) => ups.push(link),
      onDown: (reason) => downs.push(reason),
    });
    cleanups.push(() => keeper.stop());
    keeper.start();

    const first = await ups.next();
    const firstServerSide = await accepted.next();
    firstServerSide.close("server restarts");
    expect(await downs.next()).toContain("socket closed");

    const second = await ups.next();
    expect(second.id).not.toBe(first.id);
    expect(first.open).toBe(false);
    const secondServerSide = await accepted.next();

    // The new link carries envelopes.
    const got = new Promise<string>((r) => secondServerSide.onEnvelope((e) => r(e.type)));
    expect(second.send({ v: 1, id: "x1", to: "control/registry", type: "hello", payload: { type: "hello" } })).toBe(true);
    expect(await got).toBe("hello");
    expect(keeper.link).toBe(second);
  });

  test("with a node token set, only it opens a link: the clients' token is refused", async () => {
    const NODE_TOKEN = "node-only-token-0123456789";
    const { server, wsUrl, acceptedCount } = startServer(NODE_TOKEN);
    const byClient = await fetch(new URL(NODE_LINK_PATH, server.url), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(byClient.status).toBe(401);
    expect(await byClient.json()).toMatchObject({ code: "BAD_TOKEN" });
    await expect(ClientWsLink.connect(wsUrl, { token: TOKEN })).rejects.toThrow(/closed before opening|failed to open/);
    expect(acceptedCount()).toBe(0);
    const ok = await ClientWsLink.connect(wsUrl, { token: NODE_TOKEN });
    cleanups.push(() => ok.close());
    expect(ok.open).toBe(true);
  });
});
