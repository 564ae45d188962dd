// Not an SDK: the floor of any durable localStorage queue. The event is built in plain JS
// (bench/lib/floor-event.js: the same fields agent-track stores), one JSON.stringify and one
// localStorage.setItem per call, nothing validated, nothing sent; like a capped queue it keeps
// the newest 1,000 (one removeItem per call once full).
import { floorEvent } from '../lib/floor-event.js';

const CAP = 1000;
const keys = [];
let seq = 0;
export default {
  async init() {},
  track(type, properties, custom) {
    const event = floorEvent(type, properties, custom, ++seq);
    const key = 'floor:' + event.eventId;
    localStorage.setItem(key, JSON.stringify(event));
    keys.push(key);
    if (keys.length > CAP) localStorage.removeItem(keys.shift());
    return event.eventId;
  },
  queued: () => keys.length,
};
