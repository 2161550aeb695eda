import type { components, paths } from "./schema.js";

/** Every schema of the API, generated from openapi/midori-api.json (`npm run generate`). */
export type Schemas = components["schemas"];
export type CreatePreviewRequest = Schemas["CreatePreviewRequest"];
export type CreatePreviewResponse = Schemas["CreatePreviewResponse"];
export type PreviewStatusResponse = Schemas["PreviewStatusResponse"];
export type HeartbeatResponse = Schemas["HeartbeatResponse"];
export type PutFilesRequest = Schemas["PutFilesRequest"];
export type PatchFilesRequest = Schemas["PatchFilesRequest"];
export type FilesChangeResponse = Schemas["FilesChangeResponse"];
export type FileInput = Schemas["FileInput"];
export type LineOperationInput = Schemas["LineOperationInput"];
export type ProblemDetails = Schemas["ProblemDetails"];
export type PreviewStatusEvent = Schemas["PreviewStatusEvent"];
export type PreviewProgressEvent = Schemas["PreviewProgressEvent"];
export type PreviewDeletedEvent = Schemas["PreviewDeletedEvent"];

type PreviewPath = paths["/api/v1/namespaces/{ns}/previews/{name}"];
/** The status codes CreatePreview answers with a body (201 new and ready, 200 reused and ready, 202 still starting). */
export type CreateStatus = keyof paths["/api/v1/namespaces/{ns}/previews"]["post"]["responses"] & (200 | 201 | 202);

/** The stable problem `type` URIs (see the OpenAPI document's responses). */
export const ProblemTypes = {
  invalidRequest: "https://midori.dev/problems/invalid-request",
  unauthenticated: "https://midori.dev/problems/unauthenticated",
  forbidden: "https://midori.dev/problems/forbidden",
  notFound: "https://midori.dev/problems/not-found",
  conflict: "https://midori.dev/problems/conflict",
  payloadTooLarge: "https://midori.dev/problems/payload-too-large",
  unprocessable: "https://midori.dev/problems/unprocessable",
  rateLimited: "https://midori.dev/problems/rate-limited",
  unavailable: "https://midori.dev/problems/unavailable",
  internal: "https://midori.dev/problems/internal",
} as const;

/** An RFC 9457 problem answered by the API, with its extension members (e.g. `path`) kept in `problem`. */
export class MidoriApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** Seconds from Retry-After (429 and 503). */
  readonly retryAfter: number | undefined;
  readonly problem: ProblemDetails & Record<string, unknown>;

  constructor(status: number, problem: ProblemDetails & Record<string, unknown>, retryAfter?: number) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "MidoriApiError";
    this.status = status;
    this.type = problem.type ?? "about:blank";
    this.title = problem.title ?? `HTTP ${status}`;
    this.detail = problem.detail ?? undefined;
    this.retryAfter = retryAfter;
    this.problem = problem;
  }

  get isNotFound(): boolean { return this.type === ProblemTypes.notFound; }
  get isConflict(): boolean { return this.type === ProblemTypes.conflict; }
  get isRetryable(): boolean { return this.type === ProblemTypes.rateLimited || this.type === ProblemTypes.unavailable; }
}

export interface MidoriClientOptions {
  /** Where the operator's HTTP API listens, e.g. `https://midori.example.com`. */
  baseUrl: string;
  /** Bearer token (a static API token or a Kubernetes token). A function is called for every request. */
  token: string | (() => string | Promise<string>);
  /** The namespace of the previews. */
  namespace: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface CreateOptions {
  /** Wait until Ready (201/200 with url and token), at most `timeoutSeconds`; 202 when the wait ends first. */
  wait?: boolean;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface CreateResult {
  status: CreateStatus;
  preview: CreatePreviewResponse;
}

/** Handlers of a preview's server-sent events. */
export interface PreviewEventHandlers {
  onStatus?(event: PreviewStatusEvent, id: string): void;
  onProgress?(event: PreviewProgressEvent, id: string): void;
  onRecreation?(event: PreviewProgressEvent, id: string): void;
  onDeleted?(event: PreviewDeletedEvent): void;
  /** The stream opened (again, after a reconnect: `reconnects` > 0). */
  onOpen?(reconnects: number): void;
  /** A connection failed; the subscription reconnects unless the error is a problem that will not change (401/403/404). */
  onError?(error: unknown, willReconnect: boolean): void;
}

export interface SubscribeOptions {
  /** Resume after this event id (sent as Last-Event-ID). */
  lastEventId?: string;
  /** First reconnect delay; the server's `retry:` replaces it. Doubles on each failure up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface Subscription {
  /** The id of the last event received (what a reconnect sends as Last-Event-ID). */
  readonly lastEventId: string | undefined;
  readonly reconnects: number;
  close(): void;
  /** Settles when the subscription ends (closed, preview deleted, or a problem that will not change). */
  readonly done: Promise<void>;
}

/** A typed client of the Midori Operator editor API for one namespace. */
export class MidoriClient {
  readonly namespace: string;
  private readonly baseUrl: string;
  private readonly token: MidoriClientOptions["token"];
  private readonly fetchImpl: typeof fetch;

  constructor(options: MidoriClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token;
    this.namespace = options.namespace;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** POST /previews: creates the project's preview, or reuses it (files replaced, woken or resumed). */
  async createPreview(request: CreatePreviewRequest, options: CreateOptions = {}): Promise<CreateResult> {
    const query = new URLSearchParams();
    if (options.wait) query.set("wait", "true");
    if (options.timeoutSeconds !== undefined) query.set("timeoutSeconds", String(options.timeoutSeconds));
    const suffix = query.size > 0 ? `?${query}` : "";
    const { status, body } = await this.send<CreatePreviewResponse>("POST", `${this.previews()}${suffix}`, request, options.signal);
    return { status: status as CreateStatus, preview: body };
  }

  /** GET /previews/{name}: the status document; a missing preview is a MidoriApiError with `isNotFound`. */
  async getPreview(name: string, signal?: AbortSignal): Promise<PreviewStatusResponse> {
    return (await this.send<PreviewPath["get"]["responses"][200]["content"]["application/json"]>("GET", this.preview(name), undefined, signal)).body;
  }

  /** POST /previews/{name}/heartbeat: keeps a running preview alive and wakes an expired one. */
  async heartbeat(name: string, signal?: AbortSignal): Promise<HeartbeatResponse> {
    return (await this.send<HeartbeatResponse>("POST", `${this.preview(name)}/heartbeat`, undefined, signal)).body;
  }

  /** PUT /previews/{name}/files: whole files (only changed ones are stored and pushed), deletions, or a full replace. */
  async putFiles(name: string, request: PutFilesRequest, signal?: AbortSignal): Promise<FilesChangeResponse> {
    return (await this.send<FilesChangeResponse>("PUT", `${this.preview(name)}/files`, request, signal)).body;
  }

  /** PATCH /previews/{name}/files: line operations relative to each file's base (`baseHash`). */
  async patchFiles(name: string, request: PatchFilesRequest, signal?: AbortSignal): Promise<FilesChangeResponse> {
    return (await this.send<FilesChangeResponse>("PATCH", `${this.preview(name)}/files`, request, signal)).body;
  }

  /** DELETE /previews/{name}: stops (suspends) the preview; with `purge` an API-created one is deleted (then null). */
  async stopPreview(name: string, options: { purge?: boolean; signal?: AbortSignal } = {}): Promise<PreviewStatusResponse | null> {
    const { status, body } = await this.send<PreviewStatusResponse>("DELETE", `${this.preview(name)}${options.purge ? "?purge=true" : ""}`, undefined, options.signal);
    return status === 204 ? null : body;
  }

  /**
   * GET /previews/{name}/events as server-sent events over fetch (EventSource cannot send a bearer token).
   * Reconnects after a broken stream with Last-Event-ID, waiting the server's `retry:` (backing off on failures).
   */
  subscribe(name: string, handlers: PreviewEventHandlers, options: SubscribeOptions = {}): Subscription {
    const abort = new AbortController();
    let lastEventId = options.lastEventId;
    let reconnects = 0;
    let retryMs = options.retryMs ?? 1000;
    const maxRetryMs = options.maxRetryMs ?? 30_000;
    const url = `${this.preview(name)}/events`;

    const run = async (): Promise<void> => {
      let failures = 0;
      while (!abort.signal.aborted) {
        let ended = false;
        try {
          const headers: Record<string, string> = { accept: "text/event-stream", authorization: `Bearer ${await this.bearer()}` };
          if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
          const response = await this.fetchImpl(url, { headers, signal: abort.signal, cache: "no-store" });
          if (!response.ok) {
            throw await MidoriClient.problem(response);
          }

          handlers.onOpen?.(reconnects);
          failures = 0;
          for await (const event of parseEventStream(response.body!)) {
            if (event.retry !== undefined) retryMs = event.retry;
            if (event.id !== undefined) lastEventId = event.id;
            if (event.data === undefined) continue;
            const data = JSON.parse(event.data);
            switch (event.event) {
              case "status": handlers.onStatus?.(data, event.id ?? ""); break;
              case "progress": handlers.onProgress?.(data, event.id ?? ""); break;
              case "recreation": handlers.onRecreation?.(data, event.id ?? ""); break;
              case "deleted": handlers.onDeleted?.(data); ended = true; break;
            }
          }
          if (ended) return;
        } catch (error) {
          if (abort.signal.aborted) return;
          const permanent = error instanceof MidoriApiError && [401, 403, 404].includes(error.status);
          handlers.onError?.(error, !permanent);
          if (permanent) return;
          failures++;
        }

        if (abort.signal.aborted) return;
        const delay = Math.min(maxRetryMs, retryMs * 2 ** Math.max(0, failures - 1));
        await sleep(delay, abort.signal);
        reconnects++;
      }
    };

    const done = run().catch(() => undefined);
    return {
      get lastEventId() { return lastEventId; },
      get reconnects() { return reconnects; },
      close: () => abort.abort(),
      done,
    };
  }

  private previews(): string {
    return `${this.baseUrl}/api/v1/namespaces/${encodeURIComponent(this.namespace)}/previews`;
  }

  private preview(name: string): string {
    return `${this.previews()}/${encodeURIComponent(name)}`;
  }

  private async bearer(): Promise<string> {
    return typeof this.token === "function" ? await this.token() : this.token;
  }

  private async send<T>(method: string, url: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${await this.bearer()}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await this.fetchImpl(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    if (!response.ok) {
      throw await MidoriClient.problem(response);
    }

    const text = await response.text();
    return { status: response.status, body: (text.length > 0 ? JSON.parse(text) : null) as T };
  }

  private static async problem(response: Response): Promise<MidoriApiError> {
    const retryAfter = response.headers.get("retry-after");
    const seconds = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : undefined;
    let problem: ProblemDetails & Record<string, unknown>;
    try {
      problem = JSON.parse(await response.text());
    } catch {
      problem = { status: response.status, title: response.statusText || `HTTP ${response.status}` };
    }

    return new MidoriApiError(response.status, problem, seconds);
  }
}

/** One server-sent event (WHATWG HTML, "event stream interpretation"). */
export interface ServerSentEvent {
  event: string;
  data: string | undefined;
  id: string | undefined;
  retry: number | undefined;
}

/** Parses a text/event-stream body into events; `retry:`-only blocks come through with `data` undefined. */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  let id: string | undefined;
  let retry: number | undefined;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line.length === 0) {
          if (data.length > 0 || retry !== undefined) {
            yield { event, data: data.length > 0 ? data.join("\n") : undefined, id, retry };
          }
          event = "message";
          data = [];
          retry = undefined;
          continue;
        }
        if (line.startsWith(":")) continue; // comment (keep-alive)
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        switch (field) {
          case "event": event = value; break;
          case "data": data.push(value); break;
          case "id": if (!value.includes("\0")) id = value; break;
          case "retry": if (/^\d+$/.test(value)) retry = Number(value); break;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
