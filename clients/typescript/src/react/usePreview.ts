import { useCallback, useEffect, useRef, useState } from "react";
import { MidoriApiError, type CreatePreviewRequest, type CreatePreviewResponse, type FilesChangeResponse, type MidoriClient } from "../client.js";
import { contentHash } from "../files.js";

export type PreviewLifecycle = "idle" | "creating" | "running" | "stopped" | "error";

export interface EditorFile {
  path: string;
  content: string;
}

export interface UsePreviewOptions {
  client: MidoriClient;
  projectId: string;
  /** The preview's name; default: the operator's name for the project. */
  name?: string;
  /** Settings sent with the create request (provider, idleTimeoutSeconds, command, port, …). */
  settings?: Omit<CreatePreviewRequest, "projectId" | "name" | "files">;
  /** Heartbeat period while running; default 2 minutes. */
  heartbeatIntervalMs?: number;
  /** How long one create request waits for Ready before it asks again; default 60 s. */
  waitSeconds?: number;
  /** Give up starting after this long (the preview keeps starting on the operator); default 5 minutes. */
  startTimeoutMs?: number;
  /** Stop (suspend) the preview when the component unmounts; default true. */
  stopOnUnmount?: boolean;
}

export interface PreviewInfo {
  name: string;
  namespace: string;
  sandboxId: string | null;
  url: string | null;
  token: string | null;
  expiresAt: string | null;
}

/** What `updateFiles` did: only added and modified files were sent. */
export interface FileUpdateSummary {
  added: string[];
  modified: string[];
  unchanged: string[];
  response: FilesChangeResponse | null;
}

export interface UsePreviewResult {
  status: PreviewLifecycle;
  error: string | null;
  /** The problem behind `error`, when the API answered one. */
  problem: MidoriApiError | null;
  preview: PreviewInfo | null;
  start(files: EditorFile[]): Promise<PreviewInfo | null>;
  updateFiles(files: EditorFile[]): Promise<FileUpdateSummary>;
  stop(): Promise<void>;
  /** Runs the action that failed again (start or update). */
  retry(): Promise<void>;
  heartbeat(): Promise<void>;
}

const TwoMinutes = 120_000;

/**
 * A preview's lifecycle from the editor: start with files (create or reuse, waiting until Ready), push only the
 * files whose hash changed, heartbeat every 2 minutes while running, stop when the component unmounts.
 */
export function usePreview(options: UsePreviewOptions): UsePreviewResult {
  const { client, projectId, name, settings, heartbeatIntervalMs = TwoMinutes, waitSeconds = 60, startTimeoutMs = 300_000, stopOnUnmount = true } = options;
  const [status, setStatus] = useState<PreviewLifecycle>("idle");
  const [error, setError] = useState<string | null>(null);
  const [problem, setProblem] = useState<MidoriApiError | null>(null);
  const [preview, setPreview] = useState<PreviewInfo | null>(null);

  const hashes = useRef(new Map<string, string>());
  const previewRef = useRef<PreviewInfo | null>(null);
  const statusRef = useRef<PreviewLifecycle>("idle");
  const lastFailed = useRef<(() => Promise<unknown>) | null>(null);
  const mounted = useRef(true);

  const transition = useCallback((next: PreviewLifecycle) => {
    statusRef.current = next;
    if (mounted.current) setStatus(next);
  }, []);

  const fail = useCallback((cause: unknown, again: () => Promise<unknown>) => {
    lastFailed.current = again;
    const apiError = cause instanceof MidoriApiError ? cause : null;
    if (mounted.current) {
      setProblem(apiError);
      setError(cause instanceof Error ? cause.message : String(cause));
    }
    transition("error");
  }, [transition]);

  const remember = useCallback((info: PreviewInfo) => {
    previewRef.current = info;
    if (mounted.current) setPreview(info);
  }, []);

  const start = useCallback(async (files: EditorFile[]): Promise<PreviewInfo | null> => {
    transition("creating");
    setError(null);
    setProblem(null);
    try {
      let created: CreatePreviewResponse;
      const deadline = Date.now() + startTimeoutMs;
      // A 202 means the wait ended before Ready: asking again reuses the preview (same files, nothing pushed twice).
      for (;;) {
        const result = await client.createPreview({ ...settings, projectId, name, files }, { wait: true, timeoutSeconds: waitSeconds });
        created = result.preview;
        if (created.ready) break;
        if (created.status?.phase === "Failed") throw new Error(created.status.message || "the preview failed");
        if (!mounted.current) return null;
        if (Date.now() > deadline) throw new Error(`the preview was not ready within ${Math.round(startTimeoutMs / 1000)} s; it keeps starting, retry`);
      }

      hashes.current = new Map(await Promise.all(files.map(async (f) => [f.path, await contentHash(f.content)] as const)));
      const info: PreviewInfo = {
        name: created.name,
        namespace: created.namespace,
        sandboxId: created.sandboxId ?? null,
        url: created.url ?? null,
        token: created.token ?? null,
        expiresAt: created.expiresAt ?? null,
      };
      remember(info);
      transition("running");
      return info;
    } catch (cause) {
      fail(cause, () => start(files));
      return null;
    }
  }, [client, projectId, name, settings, waitSeconds, startTimeoutMs, transition, fail, remember]);

  const updateFiles = useCallback(async (files: EditorFile[]): Promise<FileUpdateSummary> => {
    const current = previewRef.current;
    if (current === null) throw new Error("start the preview first");
    const summary: FileUpdateSummary = { added: [], modified: [], unchanged: [], response: null };
    const changed: EditorFile[] = [];
    for (const file of files) {
      const known = hashes.current.get(file.path);
      const hash = await contentHash(file.content);
      if (known === undefined) summary.added.push(file.path);
      else if (known !== hash) summary.modified.push(file.path);
      else {
        summary.unchanged.push(file.path);
        continue;
      }
      changed.push(file);
    }

    if (changed.length === 0) return summary;
    try {
      summary.response = await client.putFiles(current.name, { files: changed });
      for (const [path, hash] of Object.entries(summary.response.hashes)) hashes.current.set(path, hash);
      if (statusRef.current === "error") transition("running");
      return summary;
    } catch (cause) {
      fail(cause, () => updateFiles(files));
      throw cause;
    }
  }, [client, transition, fail]);

  const stop = useCallback(async () => {
    const current = previewRef.current;
    if (current === null) return;
    try {
      await client.stopPreview(current.name);
      transition("stopped");
    } catch (cause) {
      fail(cause, () => stop());
    }
  }, [client, transition, fail]);

  const heartbeat = useCallback(async () => {
    const current = previewRef.current;
    if (current === null) return;
    try {
      await client.heartbeat(current.name);
    } catch (cause) {
      // A rate limit or a short outage is not the preview's failure; the next beat tries again.
      if (cause instanceof MidoriApiError && cause.isRetryable) return;
      fail(cause, () => heartbeat());
    }
  }, [client, fail]);

  const retry = useCallback(async () => {
    const again = lastFailed.current;
    lastFailed.current = null;
    if (again !== null) await again().catch(() => undefined);
  }, []);

  useEffect(() => {
    if (status !== "running") return;
    const timer = setInterval(() => void heartbeat(), heartbeatIntervalMs);
    return () => clearInterval(timer);
  }, [status, heartbeatIntervalMs, heartbeat]);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      const current = previewRef.current;
      if (stopOnUnmount && current !== null && (statusRef.current === "running" || statusRef.current === "creating")) {
        void client.stopPreview(current.name).catch(() => undefined);
      }
    };
  }, [client, stopOnUnmount]);

  return { status, error, problem, preview, start, updateFiles, stop, retry, heartbeat };
}
