// The DOM of the dyspatcher page: every element app.js shows something in, and the
// user's actions on them, passed to app.js as calls. Text goes in with textContent only.

import { nameProblem } from './protocol.js';
import { keyIdGroups } from './comparison.js';
import { titleWith } from './notifications.js';

const $ = (id) => document.getElementById(id);

// A count as people read it: 10,000.
const number = (n) => n.toLocaleString('en-US');

// How long the search box waits after the last key before it asks the server: one
// question per word typed, not per letter.
export const FIND_DEBOUNCE_MS = 300;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// `on`: { join(name), keyFiles(privateFile, publicFile), send(), typed(), pick(to),
// reconnect(), download(which: 'private' | 'public'), compare(name), remember(),
// forget(), notify(), share(), find(text) }
export function init(on) {
  follow($('log'));
  const toggle = $('users-toggle');
  toggle.addEventListener('click', () => {
    const open = !$('users').classList.contains('open');
    $('users').classList.toggle('open', open);
    toggle.setAttribute('aria-expanded', String(open));
  });
  $('log').addEventListener('click', (e) => {
    const item = e.target.closest('li.msg');
    if (!item || !item.dataset.reply || e.target.closest('button:not(.who)')) return;
    if (String(getSelection() || '') !== '') return; // selecting text, not answering
    on.pick(item.dataset.reply);
  });
  // The whole row picks the person, not only the name; its Key ID button shows the key.
  const rowClick = (e) => {
    const kid = e.target.closest('button.kid');
    if (kid) return toggleKid(kid);
    const row = e.target.closest('li.user');
    if (row && e.target.closest('button.compare')) return on.compare(row.dataset.name);
    if (row && row.dataset.name) on.pick(row.dataset.name);
  };
  $('users-list').addEventListener('click', rowClick);
  $('found-list').addEventListener('click', rowClick);
  const find = $('find');
  let findTimer = 0;
  const findNow = () => {
    clearTimeout(findTimer);
    on.find(find.value);
  };
  find.addEventListener('input', () => {
    // Names are lower case: what is typed is, as in the join form.
    if (find.value !== find.value.toLowerCase()) find.value = find.value.toLowerCase();
    clearTimeout(findTimer);
    findTimer = setTimeout(findNow, find.value.trim() ? FIND_DEBOUNCE_MS : 0);
  });
  find.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      findNow();
    }
  });
  $('to').addEventListener('change', (e) => {
    const to = e.target.value;
    if (to && to !== '?') on.pick(to);
  });
  $('me-kid').addEventListener('click', (e) => toggleKid(e.currentTarget));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('users').classList.contains('open')) {
      closeUsers();
      toggle.focus();
    }
  });

  // Spaces around the name (phone keyboards add one after a word) are not part of it.
  const name = $('name');
  const typed = () => name.value.trim();
  name.addEventListener('input', () => {
    const v = name.value;
    if (v !== v.toLowerCase() && /^[A-Za-z0-9]*$/.test(v.trim())) name.value = v.toLowerCase();
    nameError(typed().length >= 4 || typed().length === 0 ? nameProblem(typed()) : '');
  });
  name.addEventListener('blur', () => {
    if (typed()) nameError(nameProblem(typed()));
  });
  const keyFiles = () => on.keyFiles($('key-private').files[0], $('key-public').files[0]);
  $('key-private').addEventListener('change', keyFiles);
  $('key-public').addEventListener('change', keyFiles);
  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    name.value = typed();
    on.join(name.value);
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    on.send();
  });
  const text = $('text');
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      on.send();
    }
  });
  text.addEventListener('input', (e) => {
    grow(text);
    sendError('');
    confirm(null);
    if (!e.isComposing) on.typed();
  });
  $('reconnect').addEventListener('click', () => on.reconnect());
  $('log').addEventListener('click', (e) => {
    const b = e.target.closest('button.compare');
    if (b) on.compare(b.dataset.name);
  });
  $('remember-now').addEventListener('click', () => on.remember());
  $('forget').addEventListener('click', () => on.forget());
  $('forget-start').addEventListener('click', () => on.forget());
  $('notify').addEventListener('click', () => on.notify());
  $('share').addEventListener('click', () => on.share());
  $('verify-close').addEventListener('click', () => $('verify').close());
  $('dl-private').addEventListener('click', () => on.download('private'));
  $('dl-public').addEventListener('click', () => on.download('public'));
}

// The page without WebCrypto (plain HTTP from another machine): say why, offer HTTPS.
export function noCrypto() {
  // The same port (a server restarted with --self-signed and the same -p), or 443 (without -p).
  const a = $('https-link');
  a.href = a.textContent = 'https://' + location.host + '/';
  $('https-other').hidden = !location.port;
  const b = $('https-link-443');
  b.href = b.textContent = 'https://' + location.hostname + '/';
  $('nocrypto').hidden = false;
  $('join-form').hidden = true;
  setState('error', 'Encryption unavailable: HTTPS needed');
}

// ---- the join form ---------------------------------------------------------------------

export const nameError = (msg) => fieldError($('name'), $('name-error'), msg);

export const setName = (name) => ($('name').value = name);

export function focusName(select = false) {
  $('name').focus();
  if (select) $('name').select();
}

// A problem with the custom key files, or '' (which leaves the field's mark as it is).
export const customError = (msg) => fieldError(msg ? $('key-private') : null, $('custom-error'), msg);

// The Join button: `text` on it, disabled while `busy`.
export function joinButton(text, busy) {
  $('join').disabled = busy;
  $('join').textContent = text;
}

// ---- the composer ------------------------------------------------------------------------

export const composerText = () => $('text').value;

export function setComposerText(value) {
  $('text').value = value;
  grow($('text'));
}

// Takes the first `n` characters out of the box (the "@name " that became the
// recipient), the caret staying where it was in the rest.
export function takeFromComposer(n) {
  const t = $('text');
  const caret = Math.max(0, t.selectionEnd - n);
  t.value = t.value.slice(n);
  t.setSelectionRange(caret, caret);
  grow(t);
}

// Focus the message box; `toEnd` puts the caret after the text.
export function focusComposer(toEnd = false) {
  const t = $('text');
  t.focus();
  if (toEnd) t.setSelectionRange(t.value.length, t.value.length);
}

function toggleKid(b) {
  const full = b.getAttribute('aria-expanded') !== 'true';
  b.setAttribute('aria-expanded', String(full));
  b.textContent = full ? b.dataset.keyid : b.dataset.keyid.slice(0, 12);
  b.title = full ? 'Show the short Key ID' : 'Show the whole Key ID';
}

function kidButton(b, keyid) {
  b.dataset.keyid = keyid;
  b.textContent = keyid.slice(0, 12);
  b.setAttribute('aria-expanded', 'false');
  b.title = 'Show the whole Key ID';
}

export function setState(state, text) {
  const s = $('state');
  s.dataset.state = state;
  s.textContent = text;
}

export function keygen(state, text) {
  const k = $('keygen');
  k.dataset.state = state;
  // The bar stays (full once done): the form below it must not move.
  const bar = $('keygen-bar');
  if (state === 'busy') bar.removeAttribute('value');
  else bar.value = bar.max = 1;
  $('keygen-text').textContent = text;
}

function fieldError(input, out, msg) {
  out.textContent = msg;
  if (input) {
    if (msg) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

export function joinError(msg, certUrl) {
  $('join-error').textContent = msg;
  $('join-cert').hidden = !certUrl;
  if (certUrl) $('join-cert-link').href = $('join-cert-link').textContent = certUrl;
}
export const sendError = (msg) => ($('send-error').textContent = msg);

// The recipient selector: `r` is session.recipient() of the chosen one, `named`
// session.named() of it and the box's text (a text starting with another @name).
export function recipient(r, named) {
  const sel = $('to');
  const unknown = sel.querySelector('option[value="?"]');
  let note;
  let kind = r.kind;
  if (r.kind === 'none') {
    sel.value = '';
    note = 'Choose who reads it, or start with @name.';
  } else if (r.kind === 'unknown') {
    unknown.textContent = `${r.typed}: ${r.partial ? 'not in your list' : 'not connected'}`;
    sel.value = '?';
    note = r.partial ? `"${r.typed}" is not in your list: find them by name under People.` : `Nobody called "${r.typed}" is connected.`;
  } else if (r.gone) {
    // Gone a short while: the server may hold a message for them, and the person must see
    // that it will not be read now.
    kind = 'gone';
    unknown.textContent = `${r.to}: not connected`;
    sel.value = '?';
    note = `${r.to} is not connected: a message waits for them up to 10 minutes, then is not delivered.`;
  } else if (r.kind === 'all') {
    sel.value = 'all';
    // In a large room the list shows a part of who reads it: the number says how many.
    const all = r.people ? `Everybody connected reads it: all ${number(r.people)} people, listed or not.` : 'Everybody connected reads it.';
    note = r.allowed ? all : 'Messages to everybody are disabled here.';
  } else {
    sel.value = r.to;
    note = r.allowed ? `Only ${r.to}${r.admin ? ', the administrator,' : ''} reads it.` : 'That is you: choose somebody else.';
  }
  if (!r.allowed && (r.kind === 'all' || r.kind === 'one')) kind = 'refused';
  if (named) note = namedNote(r, named);
  $('to-row').dataset.kind = kind;
  $('to-row').dataset.named = named ? 'yes' : '';
  $('to-note').textContent = note;
  $('send').textContent = r.kind === 'all' && r.allowed ? 'Send to all' : 'Send';
  grow($('text')); // the wider button leaves the box narrower: its text may take more lines
}

// Said before Enter is pressed: the text names somebody else than the recipient.
function namedNote(r, n) {
  const why = { unknown: `nobody called "${n.named}" is connected`, self: 'that is you', disabled: 'messages to everybody are disabled here' }[n.refused];
  if (r.kind === 'none') return why ? `${why[0].toUpperCase()}${why.slice(1)}.` : `Choose who reads it: @${n.named} is only text here.`;
  const goes = r.kind === 'all' ? 'EVERYBODY' : `${r.to} only`;
  return `It goes to ${goes}, but the text starts with @${n.named}${why ? ` (${why})` : ''}: you will be asked before it is sent.`;
}

function toOptions(users, all) {
  const sel = $('to');
  const opts = [new Option('choose…', ''), new Option('', '?')];
  opts[0].disabled = opts[1].disabled = true;
  if (all) opts.push(new Option('Everybody (@all)', 'all'));
  for (const u of users) opts.push(new Option(u.admin ? `${u.name} (${u.self ? 'your console' : 'administrator'})` : u.name, u.name));
  const value = sel.value;
  sel.replaceChildren(...opts);
  sel.value = value;
}

// Ask before sending a text that starts with another @name than its recipient. `choices`:
// [{ label, run, wide }] (the narrower first; `wide`, to everybody, is shown less prominent); `focusFirst` puts the focus on the first one
// (otherwise on "Edit the message", which sends nothing). null hides the question.
export function confirm(question, choices = [], focusFirst = false) {
  $('confirm').hidden = !question;
  if (!question) return;
  $('confirm-text').textContent = question;
  for (const [i, id] of ['confirm-a', 'confirm-b'].entries()) {
    const b = $(id);
    b.hidden = !choices[i];
    if (choices[i]) {
      b.textContent = choices[i].label;
      b.classList.toggle('ghost', !!choices[i].wide);
      b.onclick = () => {
        confirm(null);
        choices[i].run();
      };
    }
  }
  $('confirm-edit').onclick = () => {
    confirm(null);
    focusComposer(true);
  };
  (focusFirst ? $('confirm-a') : $('confirm-edit')).focus();
}
export const help = (msg) => ($('text-help').textContent = msg);

function grow(t) {
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight + 2, 200) + 'px';
}

export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/x-pem-file' }));
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

let title = 'dyspatcher';
let unread = 0;
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    unread = 0;
    document.title = titleWith(0, title);
  }
});

export function showChat(me, keyid) {
  $('start').hidden = true;
  $('chat').hidden = false;
  $('users-toggle').hidden = false;
  $('me-name').textContent = me;
  kidButton($('me-kid'), keyid);
  document.title = title = `${me} · dyspatcher`;
}

export function closeUsers() {
  $('users').classList.remove('open');
  $('users-toggle').setAttribute('aria-expanded', 'false');
}

let drawnUsers = ''; // the people last drawn: a frame that changes only the count leaves them

// `total`: how many the list has when complete; `partial`: the server lists only a part of
// the room, and the others can be found by name.
export function renderUsers({ users, all, total = users.length, partial = false }) {
  const ul = $('users-list');
  ul.classList.remove('offline');
  $('found-list').classList.remove('offline');
  const drawn = JSON.stringify([users, all]);
  if (drawn !== drawnUsers) {
    drawnUsers = drawn;
    const items = [];
    if (all) {
      const li = el('li', 'user all');
      li.dataset.name = 'all';
      const b = el('button', 'pick', '@all');
      b.type = 'button';
      b.setAttribute('aria-label', 'Write to everybody (@all)');
      b.append(el('span', 'hint', 'everybody'));
      li.append(b);
      items.push(li);
    }
    for (const u of users) items.push(userRow(u));
    ul.replaceChildren(...items);
    toOptions(users, all);
  }
  const more = total > users.length;
  // The bar, narrow on a phone, has the room's size; the list's heading, how much of it is listed.
  $('users-count').textContent = `(${number(more ? total : users.length)})`;
  $('people-count').textContent = more ? `(${number(users.length)} of ${number(total)})` : `(${number(users.length)})`;
  $('people-partial').textContent = more ? `${number(users.length)} of ${number(total)} people are listed here: this room is large. Find the others by name.` : 'Everybody here is listed.';
  $('find-box').hidden = !partial && $('find').value === '';
}

// One person: a click on the row picks them; their Key ID, the comparison panel.
function userRow(u) {
  const li = el('li', 'user' + (u.admin ? ' admin' : ''));
  li.dataset.name = u.name;
  const b = el('button', 'pick', u.name);
  b.type = 'button';
  if (u.admin) b.append(el('span', 'badge', u.self ? 'your console' : 'administrator'));
  if (u.legacy) b.append(el('span', 'badge old', '0.9 client'));
  b.setAttribute('aria-label', `Write to ${u.name}${u.admin ? ', the administrator' : ''}${u.self ? ' (your console)' : ''}${u.legacy ? ', on an old 0.9 client' : ''}`);
  if (u.trust) b.append(trustMark(u.trust, true));
  const k = el('button', 'kid');
  k.type = 'button';
  kidButton(k, u.keyid);
  k.setAttribute('aria-label', `Key ID of ${u.name}`);
  // The comparison panel's button comes first and narrow: the row's middle (where a
  // click on the row lands) stays the name, which picks the person.
  if (!u.self) {
    const c = el('button', 'compare ghost', '⇄');
    c.type = 'button';
    c.title = `Compare keys with ${u.name}`;
    c.setAttribute('aria-label', `Compare keys with ${u.name}`);
    li.append(c);
  }
  li.append(b, k);
  if (u.bad) li.append(el('span', 'error', 'Key ID differs from the server’s!'));
  return li;
}

// The search's state under the box: `text` ('' for none).
export const findNote = (text) => ($('find-note').textContent = text);

export const findText = () => $('find').value;

// The answer to the search: f { name, users, more } (users: rows as renderUsers'), or null
// to clear it.
export function found(f) {
  const ul = $('found-list');
  if (!f) {
    ul.replaceChildren();
    return;
  }
  const items = f.users.map(userRow);
  if (f.more) items.push(el('li', 'more hint', `more… other names start with “${f.name}”: type more of the name.`));
  ul.replaceChildren(...items);
  findNote(f.users.length ? `${f.users.length} found: choose one to write to them.` : `Nobody connected has a name starting with “${f.name}”.`);
}

// Disconnected: nobody is known to be there; the list stays, greyed, as it was.
export function markUsersOffline() {
  $('users-list').classList.add('offline');
  $('found-list').classList.add('offline');
  $('users-count').textContent = $('people-count').textContent = '(offline)';
}

export function timeElement() {
  const d = new Date();
  const t = el('time', '', d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  t.dateTime = d.toISOString();
  t.title = d.toLocaleString();
  return t;
}

// The log follows new lines while it is scrolled to its end; scrolled up, it stays and the
// "new messages" button says there is more below. Whether to follow is decided by where
// the person scrolled, not measured at each new line (lines arriving together, or the
// banner and the composer taking room, would otherwise stop it following).
let following = true;

function follow(log) {
  const atEnd = () => log.scrollHeight - log.scrollTop - log.clientHeight < 16;
  log.addEventListener('scroll', () => {
    following = atEnd();
    if (following) $('new-below').hidden = true;
  });
  new ResizeObserver(keepEnd).observe(log);
  $('new-below').addEventListener('click', () => {
    following = true;
    keepEnd();
    $('new-below').hidden = true;
  });
}

export const keepLogEnd = () => keepEnd();

function keepEnd() {
  const log = $('log');
  if (following) log.scrollTop = log.scrollHeight;
}

export const appendToLog = (li) => append(li);

function append(li) {
  $('log').append(li);
  if (following) keepEnd();
  else $('new-below').hidden = false;
  return li;
}

export function notice(text, kind = '') {
  const li = el('li', 'notice' + (kind ? ' ' + kind : ''));
  li.append(timeElement(), el('span', '', text));
  return append(li);
}

// In place of a message that failed verification: a line saying so, never its text.
export function flagged(text) {
  const li = el('li', 'flagged');
  li.setAttribute('role', 'alert');
  li.append(timeElement(), el('span', '', text));
  return append(li);
}

// m: { id, kind: 'mine'|'other', admin, who, reply, text, status, legacy }; `id` (my
// messages) lets status() find the item again; `legacy`: from a 0.9 client, whose
// signature binds no recipient, time or id.
export function message(m) {
  const li = el('li', `msg ${m.kind}${m.admin ? ' admin' : ''}`);
  if (m.id) li.dataset.id = m.id;
  const meta = el('div', 'meta');
  const who = el('button', 'who', m.who);
  who.type = 'button';
  if (m.reply) {
    li.dataset.reply = m.reply;
    who.setAttribute('aria-label', `${m.who}. Answer ${m.reply === 'all' ? 'everybody' : m.reply}`);
  } else who.disabled = true;
  meta.append(who);
  if (m.trust) meta.append(trustMark(m.trust));
  meta.append(timeElement());
  if (m.legacy) {
    const mark = el('span', 'legacy', '0.9 client');
    mark.title = 'Sent from an old 0.9 client: its signature does not say whom it was for or when it was sent.';
    meta.append(mark);
  }
  if (m.status !== undefined) meta.append(el('span', 'status', m.status));
  const p = el('p', 'text', m.text);
  p.dir = 'auto'; // a message in a right-to-left script reads from the right
  li.append(meta, p);
  if (document.hidden && m.kind === 'other') document.title = titleWith(++unread, title);
  return append(li);
}

// Whether my message `id` is in the log (written before, sent again now).
export const shown = (id) => !!$('log').querySelector(`li.msg[data-id="${CSS.escape(id)}"]`);

// The delivery state of my message `id`: 'sent', 'failed' (with a button that runs
// `fix`), or 'note' (a line added below it).
export function status(id, state, text, fix) {
  const li = $('log').querySelector(`li.msg[data-id="${CSS.escape(id)}"]`);
  if (!li) return;
  let s = li.querySelector('.status');
  if (!s) s = li.querySelector('.meta').appendChild(el('span', 'status'));
  if (state === 'note') {
    li.append(el('p', 'note', text));
    keepEnd();
    return;
  }
  s.textContent = text;
  s.dataset.state = state;
  li.classList.toggle('failed', state === 'failed');
  if (fix && !li.querySelector('.fix')) {
    const b = el('button', 'fix ghost', 'Put the text back in the box');
    b.type = 'button';
    b.addEventListener('click', fix);
    li.append(b);
  }
  keepEnd();
}

// `button`: the label of the button that reconnects ('Reconnect', or 'Now' while a
// reconnection is counted down), or '' for none; `focus` moves the focus to it.
export function banner(text, certUrl, button = 'Reconnect', focus = true) {
  $('banner').hidden = !text;
  if (!text) return;
  $('banner-text').textContent = text;
  $('cert-help').hidden = !certUrl;
  if (certUrl) $('cert-link').href = $('cert-link').textContent = certUrl;
  const b = $('reconnect');
  b.hidden = !button;
  b.textContent = button || 'Reconnect';
  b.setAttribute('aria-label', button === 'Now' ? 'Reconnect now' : b.textContent);
  if (button && focus) b.focus();
}

// ---- trust: key changes, verification, this device ------------------------------------

// ✓ for a key compared and marked verified; ⚠ for a name whose verified key was replaced.
// `short` (the users list, where room is scarce): ✓ alone for a verified key.
function trustMark(trust, short = false) {
  const verified = trust === 'verified';
  const m = el('span', `trust ${trust}`, verified ? (short ? '✓' : '✓ verified') : '⚠ new key');
  if (verified && short) m.setAttribute('aria-label', 'verified');
  m.title = verified ? 'You compared the codes with this person and marked the key verified' : 'This name had another key when you verified it: compare the codes again';
  return m;
}

// A key change, said plainly in the log, with a button to compare the codes.
export function keyChange(name, text) {
  const li = notice(text, 'warn keychange');
  const b = el('button', 'compare ghost', `Compare codes with ${name}`);
  b.type = 'button';
  b.dataset.name = name;
  li.append(b);
  return li;
}

// The verification panel. v: { name, self, theirs, mine, code, status, admin } with
// `status` of key-watch.js; `mark(on)` runs when the person (un)marks the key verified.
export function openVerify(v, mark) {
  const d = $('verify');
  $('verify-title').textContent = v.self ? 'Your key' : `Compare keys with ${v.name}`;
  $('verify-compare').hidden = v.self;
  $('verify-mine-box').hidden = v.self;
  $('verify-their-label').textContent = v.self ? 'Your Key ID' : `Key ID of ${v.name}${v.admin ? ' (the administrator)' : ''}`;
  $('verify-their').textContent = keyIdGroups(v.theirs);
  $('verify-mine').textContent = keyIdGroups(v.mine);
  $('verify-code').textContent = v.code || '';
  $('verify-how').textContent = `Read these 12 digits to ${v.name} (in person or on a call you trust), or look at both screens. If ${v.name} sees the same code, your two keys are the ones in use and nobody sits between you. A different code: do not trust this chat with ${v.name}.`;
  const state = $('verify-state');
  state.dataset.state = v.status;
  state.textContent = v.self ? '' : v.status === 'verified' ? `✓ You marked ${v.name}'s key as verified.` : v.status === 'changed' ? `⚠ ${v.name} has a different key from the one you verified. Compare the codes again before trusting them.` : `Not verified yet.`;
  const b = $('verify-mark');
  b.hidden = v.self;
  b.textContent = v.status === 'verified' ? 'Remove the mark' : 'Mark as verified';
  b.onclick = () => {
    mark(v.status !== 'verified');
    d.close();
  };
  if (!d.open) d.showModal();
}

export const verifyOpen = () => $('verify').open;

// The join form when this device remembers someone: `text` says who, '' hides it.
export function remembered(text) {
  $('remembered').hidden = !text;
  $('remembered-text').textContent = text;
  $('remember').checked = !!text;
}

export const rememberTicked = () => $('remember').checked;

// The buttons about this device, under my name: d { remembered, notify: 'off' | 'on' |
// 'unsupported' | 'denied', exportable }.
export function device(d) {
  $('remember-now').hidden = d.remembered;
  $('forget').hidden = !d.remembered;
  $('notify').hidden = d.notify === 'unsupported';
  $('notify').textContent = d.notify === 'on' ? 'Notifications: on (turn off)' : 'Notify me of new messages';
  $('notify').setAttribute('aria-pressed', String(d.notify === 'on'));
  $('dl-private').hidden = !d.exportable;
  $('dl-note').hidden = d.exportable;
}

export const deviceNote = (text) => ($('device-note').textContent = text);

// The QR code and the link to pass on; toggled by the "Share the link" button.
export function share(link, qr) {
  const box = $('share-box');
  const open = box.hidden;
  box.hidden = !open;
  $('share').setAttribute('aria-expanded', String(open));
  if (!open) return;
  const a = $('share-link');
  a.href = a.textContent = link;
  const img = $('share-qr');
  img.hidden = !qr;
  $('share-noqr').hidden = !!qr;
  if (qr && img.getAttribute('src') !== qr) {
    // A server without the QR route: the link alone, said plainly, no broken image.
    img.addEventListener('error', () => {
      img.hidden = true;
      $('share-noqr').hidden = false;
    }, { once: true });
    img.src = qr;
  }
}

// The certificate fingerprint of the link (colon-separated pairs), or '' for none.
export function certificate(pairs) {
  $('cert').hidden = $('me-cert').hidden = !pairs;
  $('cert-fp').textContent = $('me-cert-fp').textContent = pairs;
}
