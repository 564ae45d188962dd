// Inline SVG icons: they render the same on every machine, with or without an emoji font.
// Paths are drawn on a 24×24 grid with `currentColor`, so they take the text colour.

import { svg } from './dom.js';

const PATHS = {
  'thumb-up': 'M7 10v11H3V10h4Zm2 11V10l4.5-7.5c1.2 0 2 1 1.8 2.2L14.6 9H20a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.6 21H9Z',
  'thumb-down': 'M17 14V3h4v11h-4Zm-2-11v11l-4.5 7.5c-1.2 0-2-1-1.8-2.2L9.4 15H4a2 2 0 0 1-2-2.3l1.4-8A2 2 0 0 1 5.4 3H15Z',
  paperclip: 'M16.5 6.5 8.6 14.4a1.8 1.8 0 0 0 2.5 2.5l8-8a3.6 3.6 0 0 0-5.1-5.1l-8.3 8.3a5.4 5.4 0 0 0 7.6 7.6l7-7-1.4-1.4-7 7a3.4 3.4 0 0 1-4.8-4.8l8.3-8.3a1.6 1.6 0 0 1 2.3 2.3l-8 8-.1-.1 7.9-7.9-1-1Z',
  document: 'M6 2h8l5 5v15H6V2Zm8 1.5V8h4.5L14 3.5ZM8 12v1.5h8V12H8Zm0 3.5V17h8v-1.5H8Z',
  download: 'M11 3h2v9.2l3.3-3.3 1.4 1.4L12 16l-5.7-5.7 1.4-1.4 3.3 3.3V3ZM4 18h16v2H4v-2Z',
  flag: 'M5 2h2v1h11l-2 5 2 5H7v9H5V2Z',
};

/**
 * An icon as an inline `<svg>` element: `name` is one of thumb-up, thumb-down, paperclip,
 * document, download, flag. With `label` the icon is announced (role img); without, it is
 * decorative (aria-hidden).
 */
export function icon(name, { label = '', className = 'icon' } = {}) {
  return svg(
    'svg',
    {
      viewBox: '0 0 24 24',
      width: '1em',
      height: '1em',
      fill: 'currentColor',
      class: className,
      focusable: 'false',
      dataset: { icon: name },
      role: label ? 'img' : null,
      'aria-label': label || null,
      'aria-hidden': label ? null : 'true',
    },
    svg('path', { d: PATHS[name] || PATHS.flag }),
  );
}
