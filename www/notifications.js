// New messages while the page is hidden: an unread count in the tab's title, and — only
// once the person allowed it with the button — a system notification naming the sender,
// never the text (a lock screen shows notifications to whoever looks at the phone).

// The title with `unread` messages not seen yet.
export const titleWith = (unread, title) => (unread > 0 ? `(${unread}) ${title}` : title);

// The notification of a message (session.js's message output), or null for none.
export function notificationFor(m) {
  if (!m || m.kind !== 'other' || !m.from) return null;
  const title = m.to === 'all' ? `${m.from} wrote to everybody` : `Message from ${m.from}`;
  return { title, options: { body: '', tag: `dyspatcher-${m.from}`, silent: false } };
}

export class Notifier {
  #api;
  #doc;
  #enabled = false;

  // `api`: the Notification constructor (absent in some browsers), `doc`: the document.
  constructor(api = globalThis.Notification, doc = globalThis.document) {
    this.#api = api;
    this.#doc = doc;
  }

  get supported() {
    return typeof this.#api === 'function';
  }

  get enabled() {
    return this.#enabled;
  }

  // Asked by the person's click (browsers allow the question only then). True when allowed.
  async enable() {
    if (!this.supported) return false;
    const answer = this.#api.permission === 'granted' ? 'granted' : await this.#api.requestPermission();
    this.#enabled = answer === 'granted';
    return this.#enabled;
  }

  disable() {
    this.#enabled = false;
  }

  // A message arrived: a notification if allowed and the page is hidden.
  message(m) {
    if (!this.#enabled || !this.#doc.hidden || this.#api.permission !== 'granted') return null;
    const n = notificationFor(m);
    if (!n) return null;
    try {
      const shown = new this.#api(n.title, n.options);
      shown.onclick = () => {
        globalThis.focus?.();
        shown.close();
      };
      return shown;
    } catch {
      return null; // Chrome on Android allows notifications from a service worker only
    }
  }
}
