// The page's files: the attach button, dropping and pasting, and one line in the log per
// transfer (name, size, progress, cancel; once received and verified, an image preview or
// a download link). Names and reasons go in with textContent only; a received file is
// shown only from a blob: URL of its checked bytes.

import { appendToLog, keepLogEnd, timeElement } from './ui.js';
import { sizeText } from './files.js';

// Received files kept as blob: URLs (their bytes stay in memory): beyond it the oldest is
// let go, and its line says so.
export const MAX_KEPT_FILES = 64;
// Lines of transfers that can still be found (to add a recipient's outcome after the end).
const MAX_ROWS = 256;

const $ = (id) => document.getElementById(id);
const rows = new Map(); // row -> { li, bar, state, cancel, ended }, oldest first
const kept = []; // [{ url, li }] oldest first

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// `files(list of File)`: what the person picked, dropped or pasted.
export function init(files) {
  const input = $('file-input');
  $('attach').addEventListener('click', () => input.click());
  input.addEventListener('change', () => {
    const list = [...input.files];
    input.value = ''; // the same file may be picked again
    if (list.length) files(list);
  });
  const zone = $('chat');
  let depth = 0; // dragenter/leave fire for every child crossed
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  zone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    zone.classList.add('dropping');
  });
  zone.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dropping');
  });
  zone.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.classList.remove('dropping');
    const list = [...e.dataTransfer.files];
    if (list.length) files(list);
  });
  // A pasted image (a screenshot) is a file; pasted text stays text.
  $('text').addEventListener('paste', (e) => {
    const data = e.clipboardData;
    let list = [...((data && data.files) || [])];
    // Some engines list a pasted image only among the items.
    if (!list.length && data && data.items) {
      list = [...data.items].filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
    }
    if (!list.length) return;
    e.preventDefault();
    files(list);
  });
}

// A new line for a transfer: `dir` 'out' (mine, to `to`) or 'in' (from `from`);
// `cancel()` runs when its Cancel button is pressed.
export function row({ row: key, dir, who, name, size, admin, cancel }) {
  const li = el('li', `msg file ${dir === 'out' ? 'mine' : 'other'}${admin ? ' admin' : ''}`);
  li.dataset.row = key;
  const meta = el('div', 'meta');
  const w = el('button', 'who', who);
  w.type = 'button';
  w.disabled = true;
  meta.append(w, timeElement());
  const head = el('p', 'fname');
  head.append(el('span', 'ficon', '📄'), el('span', 'name', name), el('span', 'size', sizeText(size)));
  head.dir = 'auto';
  const bar = el('progress', 'fbar');
  bar.max = Math.max(1, size);
  bar.value = 0;
  bar.setAttribute('aria-label', `${dir === 'out' ? 'Sending' : 'Receiving'} ${name}`);
  const state = el('p', 'fstate', dir === 'out' ? 'Offering…' : 'Receiving…');
  state.setAttribute('role', 'status');
  const c = el('button', 'fcancel ghost', 'Cancel');
  c.type = 'button';
  c.setAttribute('aria-label', `Cancel ${name}`);
  c.addEventListener('click', cancel);
  li.append(meta, head, bar, state, c);
  rows.delete(key);
  rows.set(key, { li, bar, state, cancel: c, name, ended: false });
  for (const k of rows.keys()) {
    if (rows.size <= MAX_ROWS) break;
    rows.delete(k);
  }
  appendToLog(li);
}

export function progress(key, done, total, text) {
  const r = rows.get(key);
  if (!r || r.ended) return;
  r.bar.max = Math.max(1, total);
  r.bar.value = total ? done : 1;
  r.state.textContent = text;
}

// A line under the transfer (one recipient's outcome).
export function note(key, text, level = '') {
  const r = rows.get(key);
  if (!r) return;
  r.state.before(el('p', 'fnote' + (level ? ' ' + level : ''), text)); // the outcomes, then the state
  keepLogEnd();
}

function end(key, state, text) {
  const r = rows.get(key);
  if (!r || r.ended) return null;
  r.ended = true;
  r.cancel.remove();
  r.state.textContent = text;
  r.li.dataset.state = state;
  return r;
}

export function sent(key, text) {
  const r = end(key, 'done', text);
  if (r) r.bar.value = r.bar.max;
}

export function failed(key, text) {
  const r = end(key, 'failed', text);
  if (!r) return;
  r.bar.remove();
  r.li.classList.add('failed');
  keepLogEnd();
}

// Received and verified: an image (its type checked by its bytes) as a preview, anything
// else as a download under its (sanitised) name. A non-image is typed as plain bytes, so
// that its blob can only be saved, never opened as a page of this origin.
export function complete(key, { name, preview, bytes }) {
  const r = end(key, 'done', preview ? 'Received and verified.' : 'Received and verified: save it to open it.');
  if (!r) return;
  r.bar.remove();
  const url = URL.createObjectURL(new Blob([bytes], { type: preview || 'application/octet-stream' }));
  const box = el('div', 'fbody');
  if (preview) {
    const img = el('img', 'preview');
    img.alt = `Image ${name}`;
    img.src = url;
    img.addEventListener('load', keepLogEnd);
    box.append(img);
  }
  const a = el('a', 'fsave', preview ? 'Save the image' : `Save ${name}`);
  a.href = url;
  a.download = name;
  box.append(a);
  r.li.append(box);
  kept.push({ url, li: r.li });
  while (kept.length > MAX_KEPT_FILES) {
    const old = kept.shift();
    URL.revokeObjectURL(old.url);
    old.li.querySelector('.fbody')?.replaceChildren(el('p', 'fnote', 'No longer kept by this page (too many files since).'));
  }
  keepLogEnd();
}
