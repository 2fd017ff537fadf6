// Opens N WebSockets to a dyspatcher server, joins each with its own RSA key, then
// stays silent (the WebSocket client answers the server's pings by itself) until
// killed. Prints "joined N" once every connection has its config frame.
// Usage: node --experimental-websocket idle-websockets.mjs ws://127.0.0.1:PORT/ws N
import { generateKeyPairSync } from 'node:crypto';

const [url, count] = [process.argv[2], Number(process.argv[3] ?? 10)];
let joined = 0;
const sockets = [];
for (let i = 0; i < count; i++) {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const ws = new WebSocket(url);
  ws.onopen = () =>
    ws.send(JSON.stringify({ cmd: 'signal', user: `idle${i}`, data: { code: 'chat-join', publickey: spki } }));
  let configured = false;
  ws.onmessage = (event) => {
    if (!configured && JSON.parse(event.data).cmd === 'config') {
      configured = true;
      if (++joined === count) console.log(`joined ${joined}`);
    }
  };
  ws.onclose = (event) => console.log(`closed idle${i}: ${event.code} ${event.reason}`);
  sockets.push(ws);
}
