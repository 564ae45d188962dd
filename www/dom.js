// The one small DOM helper both pages (the demo chat and the dashboard, its charts and icons)
// build their elements with. Text only ever goes in through textContent or text nodes, never
// innerHTML; styles only through the CSSOM (a style attribute would break the pages' CSP).

const SVG_NS = 'http://www.w3.org/2000/svg';

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * Sets `attrs` on `node` and appends `children`:
 * - `text`: the textContent; `className`: the class; `dataset`: data-* entries;
 *   `style`: CSS text, set through the CSSOM; `on<event>`: an event listener;
 * - anything else is an attribute (`true` gives an empty value);
 * - undefined, null and false values are skipped.
 * Children are nodes or strings (text); arrays are flattened, null/undefined/false skipped.
 */
function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'className') node.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style') node.style.cssText = String(v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, ...children);
  return node;
}

/** Appends nodes and strings (as text) to `node`; arrays are flattened, empty values skipped. */
export function append(node, ...children) {
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** An HTML element: `el('button', { type: 'button', className: 'btn' }, 'Send')`. */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, with the same `attrs` and children as `el`. */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Sets the text of `node` (the element or its id). */
export function text(node, value) {
  const n = typeof node === 'string' ? $(node) : node;
  n.textContent = value;
  return n;
}

/** Replaces the children of `node` (the element or its id) with `children` (empty: clears it). */
export function clear(node, ...children) {
  const n = typeof node === 'string' ? $(node) : node;
  n.replaceChildren();
  return append(n, ...children);
}
