// A small W3C WebDriver (classic) client over Node's fetch.
//
// Why not selenium-webdriver or webdriverio: the one protocol all three drivers share is
// classic WebDriver (WebKitGTK 2.50's WebKitWebDriver has no BiDi: it refuses
// `webSocketUrl`), and the tests need about fifteen of its HTTP endpoints. Those clients
// bring driver managers and per-browser option builders that know Chrome and Firefox but
// not WebKitGTK; here each engine's capabilities are plain JSON (engines.mjs) and every
// engine goes through the same few lines below, with no npm dependency at all.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

// Key codes of the WebDriver keyboard (spec, "Keyboard actions").
export const Key = { Enter: '\uE007', Shift: '\uE008' };

export class WebDriverError extends Error {
  constructor(method, path, status, value) {
    super(`${method} ${path}: ${status} ${value?.error || ''}: ${value?.message || JSON.stringify(value)}`);
    this.code = value?.error;
  }
}

async function call(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new WebDriverError(method, path, res.status, json.value);
  return json.value;
}

export async function newSession(base, capabilities) {
  const v = await call(base, 'POST', '/session', { capabilities: { alwaysMatch: capabilities } });
  return new Session(base, v.sessionId, v.capabilities);
}

export class Session {
  constructor(base, id, capabilities) {
    this.base = base;
    this.id = id;
    this.capabilities = capabilities;
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  navigate(url) {
    return this.cmd('POST', '/url', { url });
  }

  // Runs `fn` (a function, or its source) in the page with JSON arguments; element
  // references in and out are the spec's.
  execute(fn, ...args) {
    return this.cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments)`, args });
  }

  setWindowRect(rect) {
    return this.cmd('POST', '/window/rect', rect);
  }

  click(el) {
    return this.cmd('POST', `/element/${el[ELEMENT]}/click`, {});
  }

  clear(el) {
    return this.cmd('POST', `/element/${el[ELEMENT]}/clear`, {});
  }

  // Types into the element as a keyboard would; also how a file input is given its files.
  sendKeys(el, text) {
    return this.cmd('POST', `/element/${el[ELEMENT]}/value`, { text });
  }

  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64');
  }

  delete() {
    return call(this.base, 'DELETE', `/session/${this.id}`);
  }
}
