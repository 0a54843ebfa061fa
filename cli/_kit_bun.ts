/**
 * The Bun kit: `Bun.connect`/`Bun.listen` through `socket-liveness/bun`, `TCP_INFO` through
 * `bun:ffi`.
 *
 * @module
 */

import { LivenessMonitor } from "../mod.ts";
import {
  type BunSocket,
  connectionId,
  type SocketData,
  type SocketHandler,
  tuningReport,
  watchHandler,
} from "../adapters/bun.ts";
import { bunSocketFd, loadBunBackend } from "../adapters/_ffi_bun.ts";
import { specifier } from "./_package.ts";
import {
  endpoint,
  type Events,
  type Kit,
  type KitOptions,
  lineSplitter,
  type Listening,
  monitorOptions,
  type Policy,
  readKernel,
  type Watched,
} from "./_kit.ts";

/** The part of Bun's TCP API the kit uses (no Bun type package is imported). */
interface BunNet {
  listen(options: {
    hostname: string;
    port: number;
    socket: SocketHandler<BunSocket>;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): void };
  connect(options: {
    hostname: string;
    port: number;
    socket: SocketHandler<BunSocket>;
  }): Promise<BunSocket>;
}

function bun(): BunNet {
  const global = (globalThis as unknown as { Bun?: BunNet }).Bun;
  if (global === undefined) throw new Error("The Bun kit runs only on Bun");
  return global;
}

function newMonitor(
  policy: Policy,
  events: Events,
  options: KitOptions,
): LivenessMonitor<BunSocket> {
  const ping = options.ping ?? new Uint8Array();
  return new LivenessMonitor<BunSocket>(monitorOptions(policy, events, (socket) => {
    socket.write(ping);
  }));
}

function bytes(data: SocketData): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** Feeds `data` to the events (the adapter has told the monitor already). */
function reader(events: Events): (data: SocketData) => void {
  const split = lineSplitter(events.line);
  return (data) => {
    const chunk = bytes(data);
    events.data?.(chunk.length);
    split(chunk);
  };
}

function watched(monitor: LivenessMonitor<BunSocket>, socket: BunSocket): Watched {
  const id = connectionId(socket)!;
  return {
    id,
    report: tuningReport(socket)!,
    local: endpoint(socket.localAddress, socket.localPort),
    remote: endpoint(socket.remoteAddress, socket.remotePort),
    state: () => monitor.state(id),
    info: () => monitor.info(id),
    kernel: () => readKernel(monitor.state(id), loadBunBackend(), () => bunSocketFd(socket)),
    acked: () => monitor.acked(id),
    write: (data) => void socket.write(data),
    close: () => void socket.end(),
    dispose: () => monitor.close(),
  };
}

/** The Bun kit. */
export const kit: Kit = {
  runtime: "bun",
  adapter: specifier("bun"),
  connect(host, port, policy, events, options): Promise<Watched> {
    const monitor = newMonitor(policy, events, options);
    const onData = reader(events);
    return new Promise((resolve, reject) => {
      let opened = false;
      const fail = (error: unknown): void => {
        if (opened) return;
        opened = true;
        monitor.close();
        reject(error);
      };
      bun().connect({
        hostname: host,
        port,
        socket: watchHandler(monitor, {
          open(socket) {
            opened = true;
            resolve(watched(monitor, socket));
          },
          data: (_socket, data) => onData(data),
          connectError: (_socket, error) => fail(error),
        }, { ffi: options.ffi }),
      }).catch(fail);
    });
  },
  serve(policy, events, options): Promise<Listening> {
    const monitor = newMonitor(policy, events, options);
    const onData = reader(events);
    let accept: (watched: Watched) => void = () => {};
    const accepted = new Promise<Watched>((resolve) => accept = resolve);
    let taken = false;
    const listener = bun().listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: watchHandler(monitor, {
        open(socket) {
          if (taken) return void socket.terminate();
          taken = true;
          accept(watched(monitor, socket));
        },
        data: (_socket, data) => onData(data),
      }, { ffi: options.ffi }),
    });
    let stopped = false;
    const stop = (): void => {
      if (!stopped) listener.stop(false);
      stopped = true;
    };
    void accepted.then(stop);
    return Promise.resolve({ port: listener.port, accepted, close: stop });
  },
};
