import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// A small Marionette client (protocol 3, firefox-client.md 5.4): every packet is
// "<byte length>:<JSON>"; the server speaks first with a hello object, then answers each
// command [0, id, name, params] with [1, id, error, result].

export class MarionetteError extends Error {
  constructor(
    readonly error: string,
    message: string,
    readonly stacktrace?: string,
  ) {
    super(`${error}: ${message}`);
    this.name = 'MarionetteError';
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export class Marionette {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private hello?: (value: Record<string, unknown>) => void;
  private closedError?: Error;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('Marionette connection closed')));
  }

  /** Connect to 127.0.0.1:port, retrying until `timeoutMs` while Firefox is still starting. */
  static async connect(port: number, timeoutMs = 20_000): Promise<Marionette> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      try {
        return await Marionette.tryConnect(port, Math.max(1000, deadline - Date.now()));
      } catch (error) {
        lastError = error;
        await sleep(100);
      }
    }
    throw new Error(`could not connect to Marionette on port ${port}: ${String(lastError)}`);
  }

  private static tryConnect(port: number, timeoutMs: number): Promise<Marionette> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('no hello from Marionette'));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      });
      socket.once('connect', () => {
        const client = new Marionette(socket);
        client.hello = (hello) => {
          clearTimeout(timer);
          if (hello.marionetteProtocol !== 3) {
            socket.destroy();
            reject(new Error(`unsupported Marionette protocol ${JSON.stringify(hello)}`));
          } else {
            resolve(client);
          }
        };
      });
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const colon = this.buffer.indexOf(0x3a); // ':'
      if (colon < 0) return;
      const length = Number(this.buffer.subarray(0, colon).toString('ascii'));
      if (!Number.isSafeInteger(length) || length < 0) {
        this.fail(new Error(`bad Marionette packet header ${JSON.stringify(this.buffer.subarray(0, colon).toString())}`));
        return;
      }
      if (this.buffer.length < colon + 1 + length) return;
      const body = this.buffer.subarray(colon + 1, colon + 1 + length).toString('utf8');
      this.buffer = this.buffer.subarray(colon + 1 + length);
      this.dispatch(JSON.parse(body));
    }
  }

  private dispatch(packet: unknown): void {
    if (!Array.isArray(packet)) {
      const hello = this.hello;
      this.hello = undefined;
      hello?.(packet as Record<string, unknown>);
      return;
    }
    const [type, id, error, result] = packet as [number, number, { error: string; message: string; stacktrace?: string } | null, unknown];
    if (type !== 1) return; // commands from the server are not used here
    const waiter = this.pending.get(id);
    if (!waiter) return;
    this.pending.delete(id);
    if (error) waiter.reject(new MarionetteError(error.error, error.message, error.stacktrace));
    else waiter.resolve(result);
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  /** Send one command and wait for its response's result. */
  command<T = unknown>(name: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const json = JSON.stringify([0, id, name, params]);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.socket.write(`${Buffer.byteLength(json, 'utf8')}:${json}`);
    });
  }

  newSession(capabilities: Record<string, unknown> = {}) {
    return this.command<{ sessionId: string; capabilities: Record<string, unknown> }>('WebDriver:NewSession', { capabilities });
  }

  setScriptTimeout(ms: number) {
    return this.command('WebDriver:SetTimeouts', { script: ms });
  }

  setContext(value: 'chrome' | 'content') {
    return this.command('Marionette:SetContext', { value });
  }

  navigate(url: string) {
    return this.command('WebDriver:Navigate', { url });
  }

  /** Run `script` as a function body; a returned Promise is awaited. */
  async execute<T = unknown>(script: string, args: unknown[] = []): Promise<T> {
    return (await this.command<{ value: T }>('WebDriver:ExecuteScript', { script, args })).value;
  }

  /** Run `script`; it reports by calling arguments[arguments.length - 1](value). */
  async executeAsync<T = unknown>(script: string, args: unknown[] = []): Promise<T> {
    return (await this.command<{ value: T }>('WebDriver:ExecuteAsyncScript', { script, args })).value;
  }

  quit() {
    return this.command('Marionette:Quit', { flags: ['eForceQuit'] });
  }

  close(): void {
    this.socket.destroy();
  }
}
