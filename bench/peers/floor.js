// Not an SDK: the floor of any durable localStorage queue. The event is built in plain JS, one
// JSON.stringify and one localStorage.setItem per call, nothing validated, nothing sent; like a
// capped queue it keeps the newest 1,000 (one removeItem per call once full).
const CAP = 1000;
const keys = [];
let seq = 0;
export default {
  async init() {},
  track(type, properties, custom) {
    const id = crypto.randomUUID();
    const event = { eventId: id, type, timestamp: Date.now(), visitorId: 'visitor-8f3a2c', accountId: 'acme-corp',
      properties, eventProperties: custom, context: { url: location.href, title: document.title, seq: ++seq } };
    const key = 'floor:' + id;
    localStorage.setItem(key, JSON.stringify(event));
    keys.push(key);
    if (keys.length > CAP) localStorage.removeItem(keys.shift());
    return id;
  },
  queued: () => keys.length,
};
