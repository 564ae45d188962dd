// Not an SDK: the floor of any durable localStorage queue. The event is built in plain JS, one
// JSON.stringify and one localStorage.setItem per call, nothing validated, nothing sent.
let seq = 0;
export default {
  async init() {},
  track(type, properties, custom) {
    const id = crypto.randomUUID();
    const event = { eventId: id, type, timestamp: Date.now(), visitorId: 'visitor-8f3a2c', accountId: 'acme-corp',
      properties, eventProperties: custom, context: { url: location.href, title: document.title, seq: ++seq } };
    localStorage.setItem('floor:' + id, JSON.stringify(event));
    return id;
  },
  queued: () => seq,
};
