export * from "./usePreview.js";
export * from "./useCodeEditor.js";
export * from "./useEditorPreview.js";
