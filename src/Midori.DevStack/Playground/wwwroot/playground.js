// Midori playground: previews of a namespace, one preview's stable URL in a frame, an editor for its files and its live
// events. Everything the server sends is shown with textContent (never parsed as HTML), and every request goes to this
// page's own origin by a relative path, so the bearer token never reaches another origin (the preview included).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const enc = encodeURIComponent;
  const state = {
    token: null, ns: 'default', previews: [], selected: null, files: new Map(), file: null,
    stream: null, ready: null, servedRevision: null, frameOrigin: null, saveTimer: null, heartbeatAt: 0, saving: Promise.resolve(),
  };

  function readToken() {
    // The banner passes the token in the fragment, which browsers never send to a server nor put in a Referer.
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem('midori-token', decodeURIComponent(match[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem('midori-token');
  }

  async function api(method, path, body) {
    if (!path.startsWith('/') || path.startsWith('//')) throw new Error('same-origin paths only');
    const headers = { Authorization: 'Bearer ' + state.token, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
    });
    if (response.status === 401) { signOut(); throw new Error('the token was refused'); }
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!response.ok) {
      const error = new Error((json && (json.detail || json.title)) || ('HTTP ' + response.status));
      error.status = response.status;
      throw error;
    }
    return json;
  }

  const previewPath = (name) => `/api/v1/namespaces/${enc(state.ns)}/previews/${enc(name)}`;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function left(deadline) {
    if (!deadline) return '—';
    const seconds = Math.round((Date.parse(deadline) - Date.now()) / 1000);
    if (!Number.isFinite(seconds)) return '—';
    if (seconds <= 0) return 'passed';
    const m = Math.floor(seconds / 60);
    return m > 0 ? `${m}m ${seconds % 60}s` : `${seconds}s`;
  }

  function renderList() {
    const body = $('previews').tBodies[0];
    body.replaceChildren();
    for (const p of state.previews) {
      const row = el('tr');
      row.dataset.name = p.name;
      if (p.name === state.selected) row.className = 'selected';
      const phase = p.phase || 'Pending';
      const idle = p.phase === 'Running' || p.phase === 'Ready' ? left(p.idleDeadline) : '—';
      row.append(el('td', p.name, 'name'), el('td', phase, 'phase phase-' + phase.replace(/[^A-Za-z]/g, '')),
        el('td', p.ready ? 'yes' : 'no', 'ready'), el('td', idle, 'idle'), el('td', left(p.expiresAt), 'ttl'),
        el('td', p.recreations, 'recreations'));
      row.addEventListener('click', () => select(p.name));
      body.append(row);
    }
    $('empty').hidden = state.previews.length > 0;
    const current = state.previews.find((p) => p.name === state.selected);
    if (current) $('preview-state').textContent = `${current.phase || 'Pending'}${current.ready ? ', ready' : ''}`;
  }

  async function refreshList() {
    try {
      state.previews = await api('GET', `/ui/api/namespaces/${enc(state.ns)}/previews`);
      $('connection').textContent = '';
    } catch (error) {
      $('connection').textContent = String(error.message);
    }
    renderList();
  }

  async function select(name) {
    if (state.selected === name) return;
    if (state.stream) state.stream.abort();
    state.selected = name;
    state.ready = null; state.servedRevision = null;
    $('detail').hidden = false;
    $('title').textContent = `${state.ns}/${name}`;
    $('events').replaceChildren();
    renderList();
    await loadDetail();
    const controller = new AbortController();
    state.stream = controller;
    streamEvents(name, controller.signal);
    await reloadFrame();
  }

  async function loadDetail() {
    const name = state.selected;
    const detail = await api('GET', `/ui/api/namespaces/${enc(state.ns)}/previews/${enc(name)}`);
    if (name !== state.selected) return;
    const recreations = $('recreations');
    recreations.replaceChildren(...detail.recreations.map((r) => el('li',
      `${r.at} ${r.reason} ${r.oldSandboxId || '—'} → ${r.newSandboxId || '—'} ${r.success ? 'ok' : 'failed: ' + (r.error || '')} (${r.durationMs} ms)`)));
    if (!detail.recreations.length) recreations.append(el('li', 'none yet', 'muted'));
    const sessions = $('sessions');
    sessions.replaceChildren(...detail.sessions.map((s) => el('li',
      `${s.at} ${s.kind || '—'} ${s.state} ${s.sandboxId || '—'}${s.buildTimeMs == null ? '' : ` (${s.buildTimeMs} ms)`}`)));
    if (!detail.sessions.length) sessions.append(el('li', 'none yet', 'muted'));
    const keep = state.file;
    // Unsaved typing survives a refresh (a wake or recreation refreshes while the user types): only the base moves.
    const typed = keep && state.files.has(keep) && $('content').value !== state.files.get(keep).content ? $('content').value : null;
    state.files = new Map(detail.files.filter((f) => f.content !== null).map((f) => [f.path, { content: f.content, hash: f.hash }]));
    const select = $('file');
    select.replaceChildren(...[...state.files.keys()].map((path) => { const o = el('option', path); o.value = path; return o; }));
    state.file = state.files.has(keep) ? keep : (state.files.keys().next().value ?? null);
    if (state.file) select.value = state.file;
    $('content').value = typed !== null && state.file === keep ? typed : (state.file ? state.files.get(state.file).content : '');
  }

  async function reloadFrame() {
    const name = state.selected;
    let link;
    try {
      link = await api('GET', previewPath(name) + '/link');
    } catch (error) {
      $('preview-state').textContent = 'no link: ' + error.message;
      return;
    }
    if (name !== state.selected) return;
    const url = new URL(link.url, location.href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
    const frame = $('frame');
    // A preview on this page's own origin could read the token: it then runs with an opaque origin instead.
    frame.setAttribute('sandbox', url.origin === location.origin
      ? 'allow-scripts allow-forms'
      : 'allow-scripts allow-forms allow-same-origin allow-popups');
    frame.src = url.href;
    $('open').href = link.previewUrl;
  }

  function logEvent(kind, text) {
    const log = $('events');
    const item = el('li', `${new Date().toLocaleTimeString()} ${kind}: ${text}`);
    item.dataset.kind = kind;
    log.append(item);
    while (log.children.length > 200) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function onEvent(name, kind, data) {
    if (name !== state.selected) return;
    if (kind === 'status') {
      logEvent('status', `${data.phase || 'Pending'}${data.ready ? ', ready' : ''}` + (data.sandboxId ? ` (${data.sandboxId})` : ''));
      const p = state.previews.find((x) => x.name === name);
      if (p) {
        for (const key of ['phase', 'ready', 'idleDeadline', 'expiresAt', 'recreations']) if (key in data) p[key] = data[key];
        renderList();
      }
      const wasReady = state.ready;
      state.ready = !!data.ready;
      const served = data.document ? data.document.filesRevision : null;
      const revisionMoved = served != null && state.servedRevision != null && served !== state.servedRevision;
      if (served != null) state.servedRevision = served;
      // Woken or recreated: the new sandbox serves the same files at the same stable URL. A save stored while the preview
      // was down (or waking) reaches the sandbox later, by the operator's push: reload when the served revision moves too.
      if (state.ready && (wasReady === false || revisionMoved)) { reloadFrame(); if (wasReady === false) loadDetail(); }
    } else if (kind === 'progress') {
      logEvent('progress', `${data.step} ${data.percentage ?? ''}% ${data.message || ''}`);
    } else if (kind === 'recreation') {
      logEvent('recreation', `${data.step} ${data.reason || ''} ${data.error || ''}`);
      if (data.step !== 'started') loadDetail();
    } else if (kind === 'deleted') {
      logEvent('deleted', 'the preview is gone');
    }
  }

  async function streamEvents(name, signal) {
    // EventSource cannot send an Authorization header: read the text/event-stream with fetch instead.
    let lastId = '';
    while (!signal.aborted) {
      try {
        const headers = { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const response = await fetch(previewPath(name) + '/events', { headers, signal, credentials: 'omit', cache: 'no-store' });
        if (response.status === 404) { logEvent('deleted', 'no such preview'); return; }
        if (!response.ok || !response.body) throw new Error('HTTP ' + response.status);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let kind = 'message'; const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') kind = text; else if (field === 'data') data.push(text); else if (field === 'id') lastId = text;
            }
            if (data.length) {
              let parsed = null;
              try { parsed = JSON.parse(data.join('\n')); } catch { parsed = null; }
              if (parsed) onEvent(name, kind, parsed);
            }
            if (kind === 'deleted') return;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        logEvent('stream', 'reconnecting: ' + error.message);
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  // ---- editor -------------------------------------------------------------------------------------------------------

  function lineOperations(before, after) {
    const a = before.split('\n'); const b = after.split('\n');
    if (a.length !== b.length) return null;
    const operations = [];
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) operations.push({ type: 'replace', line: i + 1, content: b[i], oldContent: a[i] });
    }
    return operations;
  }

  function save(mode) {
    // One save at a time, in order: each starts from the hash the previous one returned.
    state.saving = state.saving.then(() => saveNow(mode)).catch(() => {});
    return state.saving;
  }

  async function saveNow(mode) {
    const name = state.selected; const path = state.file;
    if (!name || !path) return;
    const base = state.files.get(path);
    const content = $('content').value;
    if (base.content === content) return;
    const operations = mode === 'put' ? null : lineOperations(base.content, content);
    const usePatch = operations !== null && operations.length > 0 && (mode === 'patch' || operations.length <= 3);
    $('save-state').textContent = usePatch ? 'patching…' : 'saving…';
    try {
      const result = usePatch
        ? await api('PATCH', previewPath(name) + '/files', { files: [{ path, baseHash: base.hash, operations }] })
        : await api('PUT', previewPath(name) + '/files', { files: [{ path, content, baseHash: base.hash }] });
      state.files.set(path, { content, hash: result.hashes[path] || base.hash });
      $('save-state').textContent = `${usePatch ? 'PATCH' : 'PUT'} revision ${result.revision}` + (result.pushed ? ', pushed' : ', stored (the sandbox gets it when it wakes)');
      $('save-state').dataset.revision = String(result.revision);
      if (result.pushed) reloadFrame();
    } catch (error) {
      $('save-state').textContent = 'not saved: ' + error.message;
      if (error.status === 409) await loadDetail();
    }
  }

  async function heartbeat() {
    // Typing is activity: at most one heartbeat every few seconds; it also wakes an expired preview.
    const now = Date.now();
    if (!state.selected || now - state.heartbeatAt < 3000) return;
    state.heartbeatAt = now;
    try {
      const result = await api('POST', previewPath(state.selected) + '/heartbeat');
      if (result.waking) logEvent('heartbeat', 'waking the preview');
    } catch (error) {
      logEvent('heartbeat', 'failed: ' + error.message);
    }
  }

  function signOut() {
    sessionStorage.removeItem('midori-token');
    state.token = null;
    $('main').hidden = true;
    $('login').hidden = false;
  }

  function start() {
    $('login').hidden = true;
    $('main').hidden = false;
    refreshList();
    setInterval(refreshList, 2000);
    setInterval(renderList, 1000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    state.token = readToken();
    $('login').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      sessionStorage.setItem('midori-token', token);
      state.token = token;
      $('token').value = '';
      start();
    });
    $('namespace').addEventListener('change', () => {
      const ns = $('namespace').value.trim();
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns)) return;
      state.ns = ns;
      if (state.stream) state.stream.abort();
      state.selected = null;
      $('detail').hidden = true;
      refreshList();
    });
    $('file').addEventListener('change', () => {
      state.file = $('file').value;
      $('content').value = state.files.get(state.file)?.content ?? '';
    });
    $('content').addEventListener('input', () => {
      heartbeat();
      clearTimeout(state.saveTimer);
      if ($('autosave').checked) state.saveTimer = setTimeout(() => save('auto'), 600);
    });
    $('save-put').addEventListener('click', () => save('put'));
    $('save-patch').addEventListener('click', () => save('patch'));
    $('reload').addEventListener('click', () => reloadFrame());
    if (state.token) start(); else $('login').hidden = false;
  });
})();
