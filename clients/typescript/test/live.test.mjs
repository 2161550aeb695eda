// The client and the hooks against the real operator process (started by the .NET test
// OperatorClientLiveTests: Kestrel on loopback, local provider, PostgreSQL, the in-process Kubernetes API server).
// Nothing of the API is mocked; a fetch wrapper only observes requests or breaks one connection on purpose.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";

const baseUrl = process.env.MIDORI_API_URL;
const token = process.env.MIDORI_API_TOKEN;
const namespace = process.env.MIDORI_NAMESPACE;
const skip = baseUrl && token && namespace ? false : "MIDORI_API_URL, MIDORI_API_TOKEN and MIDORI_NAMESPACE are set by the .NET test that starts the operator";

// happy-dom gives React a DOM; keep Node's own fetch for the API (happy-dom's follows browser CORS rules).
const nodeFetch = globalThis.fetch.bind(globalThis);
const { GlobalRegistrator } = await import("@happy-dom/global-registrator");
GlobalRegistrator.register({ url: "http://localhost/" });
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const { renderHook, act, waitFor, cleanup } = await import("@testing-library/react");
const { MidoriClient, MidoriApiError, ProblemTypes, applyLineOps, contentHash } = await import("../dist/index.js");
const { usePreview, useCodeEditor, useEditorPreview } = await import("../dist/react/index.js");

const Step = { timeout: 90_000, interval: 100 };

// Unmount whatever a failed test left mounted, so no event stream or timer keeps the process alive.
afterEach(() => cleanup());
// Events arrive from the network, outside act(); React's warning about that is noise here.
const consoleError = console.error;
console.error = (...args) => {
  if (typeof args[0] === "string" && args[0].includes("not wrapped in act")) return;
  consoleError(...args);
}; // bounded polls; generous for a loaded 2-core machine

/** Observes requests (method, path, Last-Event-ID) and can break the next event stream after its first event. */
function observedFetch() {
  const requests = [];
  let breakNextStream = false;
  const wrapped = async (url, init = {}) => {
    const path = new URL(url).pathname;
    requests.push({ method: init.method ?? "GET", path, lastEventId: init.headers?.["last-event-id"] });
    const response = await nodeFetch(url, init);
    if (breakNextStream && path.endsWith("/events") && response.ok) {
      breakNextStream = false;
      const reader = response.body.getReader();
      const body = new ReadableStream({
        async pull(controller) {
          const { value, done } = await reader.read();
          if (done) return controller.close();
          controller.enqueue(value);
          if (new TextDecoder().decode(value).includes("event: status")) {
            await reader.cancel();
            controller.error(new TypeError("connection reset (test)"));
          }
        },
      });
      return new Response(body, { status: response.status, headers: response.headers });
    }
    return response;
  };
  return { fetch: wrapped, requests, breakNextStream: () => { breakNextStream = true; } };
}

/** A bounded poll on real time (setTimeout and Date are never mocked here), for tests that mock setInterval. */
async function eventually(assertion, timeoutMs = Step.timeout) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await act(async () => {});
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Step.interval));
    }
  }
}

function client(fetchImpl = nodeFetch) {
  return new MidoriClient({ baseUrl, token, namespace, fetch: fetchImpl });
}

// Opens the preview as a browser does: the signed link (?token=) sets the preview's session cookie and redirects to
// the clean URL, which is then fetched with that cookie.
async function page(url, previewToken, path = "") {
  const clean = new URL(url);
  const token = clean.searchParams.get("token") ?? previewToken;
  clean.searchParams.delete("token");
  const target = new URL(path, clean);
  const headers = {};
  if (token) {
    const signed = new URL(target);
    signed.searchParams.set("token", token);
    const first = await nodeFetch(signed, { redirect: "manual" });
    const cookies = first.headers.getSetCookie().map((cookie) => cookie.split(";")[0]);
    if (cookies.length > 0) headers.cookie = cookies.join("; ");
  }
  const response = await nodeFetch(target, { headers });
  return { status: response.status, text: await response.text() };
}

test("typed problems: a missing preview is a MidoriApiError with the stable not-found type", { skip }, async () => {
  const error = await client().getPreview("does-not-exist").catch((e) => e);
  assert.ok(error instanceof MidoriApiError, String(error));
  assert.equal(error.status, 404);
  assert.equal(error.type, ProblemTypes.notFound);
  assert.ok(error.isNotFound);
  assert.equal(error.problem.sandbox_status, "not_found");

  const invalid = await client().createPreview({ projectId: "p", files: [{ path: "../escape.txt", content: "x" }] }).catch((e) => e);
  assert.equal(invalid.type, ProblemTypes.invalidRequest);
  assert.equal(invalid.problem.path, "../escape.txt");
});

test("editor flow: create → edit → partial patch → expiry → wake with recreation progress → stop on unmount", { skip }, async () => {
  const observed = observedFetch();
  const api = client(observed.fetch);
  const files = [
    { path: "index.html", content: "<h1>v1</h1>\n" },
    { path: "app.js", content: "const a = 1;\nconst b = 2;\nconsole.log(a + b);\n" },
    { path: "style.css", content: "body { margin: 0 }\n" },
  ];

  // create
  const preview = renderHook(() => usePreview({ client: api, projectId: "sdk-editor", settings: { idleTimeoutSeconds: 10, ttlSeconds: 900 } }));
  assert.equal(preview.result.current.status, "idle");
  await act(() => preview.result.current.start(files));
  assert.equal(preview.result.current.status, "running", preview.result.current.error ?? "");
  const info = preview.result.current.preview;
  assert.ok(info.url && info.sandboxId, JSON.stringify(info));
  assert.equal((await page(info.url, info.token)).text, "<h1>v1</h1>\n");

  const live = renderHook(() => useEditorPreview({ client: api, name: info.name }));
  await waitFor(() => assert.equal(live.result.current.ready, true), Step);
  const firstKey = live.result.current.iframeKey;
  assert.equal(live.result.current.sandboxId, info.sandboxId);

  // edit: only the file whose hash changed is sent
  const beforePuts = observed.requests.filter((r) => r.method === "PUT").length;
  let summary;
  await act(async () => {
    summary = await preview.result.current.updateFiles([{ ...files[0], content: "<h1>v2</h1>\n" }, files[1], files[2], { path: "new.txt", content: "added" }]);
  });
  assert.deepEqual([summary.added, summary.modified, summary.unchanged], [["new.txt"], ["index.html"], ["app.js", "style.css"]]);
  assert.deepEqual([summary.response.added, summary.response.modified, summary.response.pushed], [["new.txt"], ["index.html"], true]);
  assert.equal(observed.requests.filter((r) => r.method === "PUT").length, beforePuts + 1);
  await act(async () => {
    const again = await preview.result.current.updateFiles([{ ...files[0], content: "<h1>v2</h1>\n" }]);
    assert.equal(again.response, null); // nothing changed: no request at all
  });
  assert.equal(observed.requests.filter((r) => r.method === "PUT").length, beforePuts + 1);
  assert.equal((await page(info.url, info.token)).text, "<h1>v2</h1>\n");

  // partial patch from line edits
  const editor = renderHook(() => useCodeEditor({ client: api, previewName: info.name }));
  act(() => editor.result.current.openFiles([files[1]]));
  act(() => editor.result.current.editLine("app.js", 2, "const b = 40;"));
  act(() => editor.result.current.insertLine("app.js", 3, "// sum"));
  const file = editor.result.current.files["app.js"];
  assert.equal(file.isModified, true);
  assert.equal(file.originalContent, files[1].content);
  const ops = editor.result.current.getPatchOperations("app.js");
  assert.deepEqual(ops, [
    { type: "replace", line: 2, content: "const b = 40;", oldContent: "const b = 2;" },
    { type: "insert", line: 3, content: "// sum" },
  ]);
  assert.equal(applyLineOps(file.originalContent, ops), file.content);
  let pushed;
  await act(async () => { pushed = await editor.result.current.saveFile("app.js"); });
  assert.equal(pushed.mode, "partial");
  assert.deepEqual([pushed.response.changed, pushed.response.modified, pushed.response.pushed], [true, ["app.js"], true]);
  assert.equal(pushed.response.hashes["app.js"], await contentHash(editor.result.current.files["app.js"].content));
  assert.equal(editor.result.current.files["app.js"].isModified, false);
  assert.equal(observed.requests.at(-1).method, "PATCH");
  assert.equal((await page(info.url, info.token, "app.js")).text, "const a = 1;\nconst b = 40;\n// sum\nconsole.log(a + b);\n");
  // a whole-file push of the same editor state
  act(() => editor.result.current.editLine("app.js", 1, "const a = 2;"));
  await act(async () => { pushed = await editor.result.current.pushFile("app.js", "whole"); });
  assert.equal(pushed.mode, "whole");
  assert.equal(observed.requests.at(-1).method, "PUT");

  // SSE reconnection with Last-Event-ID: the stream breaks after its first status event and resumes
  observed.breakNextStream();
  const reconnecting = renderHook(() => useEditorPreview({ client: api, name: info.name }));
  await waitFor(() => {
    const streams = observed.requests.filter((r) => r.path.endsWith("/events"));
    assert.ok(streams.length >= 3, `${streams.length} stream requests`);
    assert.ok(streams.at(-1).lastEventId, "the reconnect sent Last-Event-ID");
    assert.equal(reconnecting.result.current.connected, true);
  }, Step);
  reconnecting.unmount();

  // expiry: no heartbeat for the idle timeout (the hook beats every 2 minutes)
  await waitFor(() => assert.equal(live.result.current.phase, "Expired"), Step);
  assert.equal(live.result.current.ready, false);

  // wake: a heartbeat recreates the sandbox; progress and the new URL are observed, the iframe key changes
  const beat = await api.heartbeat(info.name);
  assert.equal(beat.waking, true);
  await waitFor(() => {
    const state = live.result.current;
    assert.equal(state.ready, true);
    assert.notEqual(state.sandboxId, info.sandboxId);
  }, Step);
  const woken = live.result.current;
  assert.notEqual(woken.iframeKey, firstKey);
  assert.equal(woken.recreation.progress, 100);
  assert.equal(woken.recreation.active, false);
  assert.ok(woken.recreation.newUrl, "the new URL");
  assert.equal(woken.status.recreations, 1);
  const progress = woken.events.filter((e) => e.type === "progress" && e.data.recreating);
  assert.ok(progress.length > 0, `progress events while recreating: ${JSON.stringify(woken.events.map((e) => [e.type, e.data?.step]))}`);
  assert.ok(woken.events.some((e) => e.type === "recreation" && e.data.step === "started"));
  assert.ok(progress.every((e, i, all) => i === 0 || (e.data.percentage ?? 0) >= (all[i - 1].data.percentage ?? 0)), "progress only grows");
  assert.equal((await page(woken.recreation.newUrl, info.token, "app.js")).text, "const a = 2;\nconst b = 40;\n// sum\nconsole.log(a + b);\n");

  // stop on unmount
  preview.unmount();
  await waitFor(async () => {
    const status = await api.getPreview(info.name);
    assert.equal(status.suspended, true);
  }, Step);
  await waitFor(() => assert.equal(live.result.current.phase, "Stopped"), Step);
  live.unmount();
  editor.unmount();
  cleanup();
});

test("usePreview: heartbeat every 2 minutes while running; error text and retry", { skip }, async (t) => {
  const observed = observedFetch();
  let failNext = true;
  const flaky = async (url, init) => {
    if (failNext && init?.method === "POST" && new URL(url).pathname.endsWith("/previews")) {
      failNext = false;
      throw new TypeError("network down (test)");
    }
    return observed.fetch(url, init);
  };
  t.mock.timers.enable({ apis: ["setInterval"] });
  const api = client(flaky);
  const preview = renderHook(() => usePreview({ client: api, projectId: "sdk-heartbeat", stopOnUnmount: true }));
  await act(() => preview.result.current.start([{ path: "index.html", content: "hi" }]));
  assert.equal(preview.result.current.status, "error");
  assert.match(preview.result.current.error, /network down/);
  await act(() => preview.result.current.retry());
  assert.equal(preview.result.current.status, "running", preview.result.current.error ?? "");
  const name = preview.result.current.preview.name;
  const beats = () => observed.requests.filter((r) => r.path.endsWith(`/${name}/heartbeat`)).length;

  t.mock.timers.tick(119_000);
  assert.equal(beats(), 0);
  t.mock.timers.tick(1_000);
  await eventually(() => assert.equal(beats(), 1));
  t.mock.timers.tick(120_000);
  await eventually(() => assert.equal(beats(), 2));
  const status = await client().getPreview(name);
  assert.ok(status.lastActivityTime, "the heartbeats reached the operator");

  preview.unmount();
  await eventually(async () => assert.equal((await client().getPreview(name)).suspended, true));
  t.mock.timers.reset();
});
