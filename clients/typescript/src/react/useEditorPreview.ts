import { useEffect, useRef, useState } from "react";
import type { MidoriClient, PreviewProgressEvent, PreviewStatusEvent } from "../client.js";

export interface RecreationState {
  /** A recreation (expiry wake-up, failure, spec change) is under way. */
  active: boolean;
  /** 0–100 while (re)creating, from the operator's progress events. */
  progress: number | null;
  step: string | null;
  message: string | null;
  reason: string | null;
  /** The URL once the new sandbox serves (may equal the old one when the provider keeps URLs). */
  newUrl: string | null;
}

export type EditorPreviewEvent =
  | { type: "status"; id: string; data: PreviewStatusEvent }
  | { type: "progress" | "recreation"; id: string; data: PreviewProgressEvent }
  | { type: "deleted" };

export interface UseEditorPreviewResult {
  status: PreviewStatusEvent | null;
  phase: string | null;
  ready: boolean;
  url: string | null;
  sandboxId: string | null;
  recreation: RecreationState;
  /** Changes whenever the preview is served by another sandbox: use it as the iframe's `key` to reload it. */
  iframeKey: string;
  /** The latest events, newest last (at most `maxEvents`). */
  events: EditorPreviewEvent[];
  connected: boolean;
  deleted: boolean;
  error: string | null;
}

export interface UseEditorPreviewOptions {
  client: MidoriClient;
  name: string | null | undefined;
  maxEvents?: number;
}

const Idle: RecreationState = { active: false, progress: null, step: null, message: null, reason: null, newUrl: null };

/** A preview's live state from its event stream: status, (re)creation progress and the iframe to show. */
export function useEditorPreview(options: UseEditorPreviewOptions): UseEditorPreviewResult {
  const { client, name, maxEvents = 50 } = options;
  const [status, setStatus] = useState<PreviewStatusEvent | null>(null);
  const [recreation, setRecreation] = useState<RecreationState>(Idle);
  const [events, setEvents] = useState<EditorPreviewEvent[]>([]);
  const [connected, setConnected] = useState(false);
  const [deleted, setDeleted] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const servedBy = useRef<string | null>(null);

  useEffect(() => {
    if (!name) return;
    setDeleted(false);
    const push = (event: EditorPreviewEvent) => setEvents((list) => [...list.slice(-(maxEvents - 1)), event]);
    const subscription = client.subscribe(name, {
      onOpen: () => {
        setConnected(true);
        setError(null);
      },
      onError: (cause, willReconnect) => {
        setConnected(false);
        setError(`${cause instanceof Error ? cause.message : String(cause)}${willReconnect ? " (reconnecting)" : ""}`);
      },
      onStatus: (data, id) => {
        push({ type: "status", id, data });
        setStatus(data);
        // The preview was replaced when another sandbox serves it: a new iframe key, and the recreation is over.
        const sandbox = data.ready ? data.sandboxId ?? null : null;
        if (sandbox !== null && sandbox !== servedBy.current) {
          if (servedBy.current !== null) setGeneration((g) => g + 1);
          servedBy.current = sandbox;
          setRecreation((r) => (r.active || r.progress !== null ? { ...r, active: false, progress: 100, newUrl: data.previewUrl ?? null } : r));
        }
      },
      onProgress: (data, id) => {
        push({ type: "progress", id, data });
        setRecreation((r) => ({
          ...r,
          active: r.active || data.recreating,
          progress: data.percentage ?? r.progress,
          step: data.step,
          message: data.message,
          reason: data.reason ?? r.reason,
        }));
      },
      onRecreation: (data, id) => {
        push({ type: "recreation", id, data });
        setRecreation((r) => data.step === "started"
          ? { active: true, progress: 0, step: data.step, message: data.message, reason: data.reason ?? null, newUrl: null }
          : { ...r, active: false, step: data.step, message: data.message, progress: data.step === "completed" ? 100 : r.progress });
      },
      onDeleted: () => {
        push({ type: "deleted" });
        setDeleted(true);
        setConnected(false);
      },
    });
    return () => subscription.close();
  }, [client, name, maxEvents]);

  return {
    status,
    phase: status?.phase ?? null,
    ready: status?.ready ?? false,
    url: status?.previewUrl ?? null,
    sandboxId: status?.sandboxId ?? null,
    recreation,
    iframeKey: `${name ?? ""}:${generation}:${servedBy.current ?? ""}`,
    events,
    connected,
    deleted,
    error,
  };
}
