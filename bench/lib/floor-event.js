// The event the plain-JS floor stores: the same fields agent-track stores for a call
// (eventId, type, timestamp, visitorId, accountId, properties, eventProperties and the page
// context with url, title, userAgent, language, seq and sdk), built in JS without validation,
// so that the floor's JSON.stringify + setItem handle as many bytes as agent-track's.
// User agent and language are read once, as agent-track does; url and title on every call.
const userAgent = navigator.userAgent, language = navigator.language;

export function floorEvent(type, properties, custom, seq) {
  return {
    eventId: crypto.randomUUID(), type, timestamp: Date.now(), visitorId: 'visitor-8f3a2c', accountId: 'acme-corp',
    properties, eventProperties: custom,
    context: { url: location.href, title: document.title || undefined, userAgent, language, seq, sdk: 'agent-track/0.1.0' },
  };
}
