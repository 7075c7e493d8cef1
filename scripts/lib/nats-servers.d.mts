export interface NatsNode {
  name: string;
  port: number;
  /** The monitoring port (http: /jsz, /healthz). */
  monitor: number;
  /** Kills the node (SIGKILL: a crash, not a clean shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store folder. */
  start(): Promise<void>;
}

export interface NatsServers {
  nodes: NatsNode[];
  /** `HOST:PORT,HOST:PORT...` of every node, for a nats:// store address. */
  hosts: string;
  /** A store address for a bucket, e.g. `nats://127.0.0.1:4222,.../frames`. */
  url(bucket: string, user?: string): string;
  /** Folder of the config files and stores, removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export interface NatsOptions {
  /** Require this user and password from every client. */
  user?: { name: string; password: string };
  /** More of the config file, e.g. a `tls { }` block. */
  extra?: string;
}

export declare function startNatsServers(count: number, o?: NatsOptions): Promise<NatsServers>;
export declare function streamState(node: NatsNode, stream: string): Promise<{ messages: number; bytes: number; replicas: number } | undefined>;
