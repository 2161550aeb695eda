import { useCallback, useRef, useState } from "react";
import { MidoriApiError, type FilesChangeResponse, type MidoriClient } from "../client.js";
import { contentHash, lineDiff, splitLines, type LineOp } from "../files.js";

export interface EditorFileState {
  path: string;
  content: string;
  /** The content the preview holds (after the last successful push). */
  originalContent: string;
  isModified: boolean;
}

export type PushMode = "whole" | "partial" | "auto";

export interface PushResult {
  path: string;
  mode: "whole" | "partial" | "none";
  operations: LineOp[];
  response: FilesChangeResponse | null;
}

export interface UseCodeEditorOptions {
  client: MidoriClient;
  /** The preview the files belong to (usePreview's `preview.name`); pushes need it. */
  previewName: string | null | undefined;
  /** `auto` sends a line patch when it has at most this share of the file's lines; default 0.5. */
  partialRatio?: number;
}

export interface UseCodeEditorResult {
  files: Record<string, EditorFileState>;
  /** Loads files as the preview holds them (original = content). */
  openFiles(files: Array<{ path: string; content: string }>): void;
  setContent(path: string, content: string): void;
  /** Replaces 1-based line `line` of the editor's text. */
  editLine(path: string, line: number, text: string): void;
  insertLine(path: string, line: number, text: string): void;
  deleteLine(path: string, line: number): void;
  /** Patch operations `{type, line, content, oldContent}` from the line diff of original → content. */
  getPatchOperations(path: string): LineOp[];
  /** PUT the whole file, PATCH its line operations, or choose (`auto`, falling back to PUT when the base moved). */
  pushFile(path: string, mode?: PushMode): Promise<PushResult>;
  /** Pushes the file (auto) and marks it saved. */
  saveFile(path: string): Promise<PushResult>;
  saving: Record<string, boolean>;
  errors: Record<string, string>;
}

/** The editor's files with their pushed state, line edits, and whole-file or line-patch pushes to the preview. */
export function useCodeEditor(options: UseCodeEditorOptions): UseCodeEditorResult {
  const { client, previewName, partialRatio = 0.5 } = options;
  const [files, setFiles] = useState<Record<string, EditorFileState>>({});
  const [saving, setSaving] = useState<Record<string, boolean>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const filesRef = useRef(files);

  const update = useCallback((change: (previous: Record<string, EditorFileState>) => Record<string, EditorFileState>) => {
    filesRef.current = change(filesRef.current);
    setFiles(filesRef.current);
  }, []);

  const openFiles = useCallback((list: Array<{ path: string; content: string }>) => {
    update((previous) => {
      const next = { ...previous };
      for (const f of list) next[f.path] = { path: f.path, content: f.content, originalContent: f.content, isModified: false };
      return next;
    });
  }, [update]);

  const setContent = useCallback((path: string, content: string) => {
    update((previous) => {
      const file = previous[path] ?? { path, content: "", originalContent: "", isModified: false };
      return { ...previous, [path]: { ...file, content, isModified: content !== file.originalContent } };
    });
  }, [update]);

  const editLines = useCallback((path: string, edit: (lines: string[]) => void) => {
    const file = filesRef.current[path];
    if (file === undefined) throw new Error(`'${path}' is not open`);
    const lines = splitLines(file.content);
    edit(lines);
    setContent(path, lines.join("\n"));
  }, [setContent]);

  const editLine = useCallback((path: string, line: number, text: string) => editLines(path, (lines) => {
    if (line < 1 || line > lines.length) throw new RangeError(`line ${line} is outside 1..${lines.length}`);
    lines[line - 1] = text;
  }), [editLines]);

  const insertLine = useCallback((path: string, line: number, text: string) => editLines(path, (lines) => {
    if (line < 1 || line > lines.length + 1) throw new RangeError(`line ${line} is outside 1..${lines.length + 1}`);
    lines.splice(line - 1, 0, text);
  }), [editLines]);

  const deleteLine = useCallback((path: string, line: number) => editLines(path, (lines) => {
    if (line < 1 || line > lines.length) throw new RangeError(`line ${line} is outside 1..${lines.length}`);
    lines.splice(line - 1, 1);
  }), [editLines]);

  const getPatchOperations = useCallback((path: string): LineOp[] => {
    const file = filesRef.current[path];
    return file === undefined ? [] : lineDiff(file.originalContent, file.content);
  }, []);

  const pushFile = useCallback(async (path: string, mode: PushMode = "auto"): Promise<PushResult> => {
    const file = filesRef.current[path];
    if (file === undefined) throw new Error(`'${path}' is not open`);
    if (!previewName) throw new Error("no preview to push to");
    const content = file.content;
    const operations = lineDiff(file.originalContent, content);
    if (operations.length === 0 && mode !== "whole") return { path, mode: "none", operations, response: null };

    setSaving((s) => ({ ...s, [path]: true }));
    try {
      let pushed: PushResult;
      const partial = mode === "partial" || (mode === "auto" && operations.length <= Math.max(1, splitLines(file.originalContent).length * partialRatio));
      if (partial) {
        try {
          const baseHash = await contentHash(file.originalContent);
          const response = await client.patchFiles(previewName, { files: [{ path, baseHash, operations }] });
          pushed = { path, mode: "partial", operations, response };
        } catch (cause) {
          // The preview's copy moved on (another tab, a reuse): the editor's text wins, as a whole file.
          if (mode !== "auto" || !(cause instanceof MidoriApiError && (cause.isConflict || cause.isNotFound))) throw cause;
          pushed = { path, mode: "whole", operations, response: await client.putFiles(previewName, { files: [{ path, content }] }) };
        }
      } else {
        pushed = { path, mode: "whole", operations, response: await client.putFiles(previewName, { files: [{ path, content }] }) };
      }

      update((previous) => {
        const now = previous[path];
        if (now === undefined) return previous;
        return { ...previous, [path]: { ...now, originalContent: content, isModified: now.content !== content } };
      });
      setErrors((e) => {
        const { [path]: _, ...rest } = e;
        return rest;
      });
      return pushed;
    } catch (cause) {
      setErrors((e) => ({ ...e, [path]: cause instanceof Error ? cause.message : String(cause) }));
      throw cause;
    } finally {
      setSaving((s) => ({ ...s, [path]: false }));
    }
  }, [client, previewName, partialRatio, update]);

  const saveFile = useCallback((path: string) => pushFile(path, "auto"), [pushFile]);

  return { files, openFiles, setContent, editLine, insertLine, deleteLine, getPatchOperations, pushFile, saveFile, saving, errors };
}
