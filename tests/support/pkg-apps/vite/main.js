// Imported by its package name, as an app would; the test aliases 'agent-track' to pkg/.
import init, { configure, trackAgent, flush, stats } from 'agent-track';
import { exposeRoundTrip } from '../roundtrip.js';

exposeRoundTrip({ init, configure, trackAgent, flush, stats });
window.ready = true;
