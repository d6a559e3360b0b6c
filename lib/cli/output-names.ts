// Names of the files `lotus depth|normal` writes: `<stem><suffix>` per output format.

/** File name suffix of each output format, by `task:format`. */
export const OUTPUT_SUFFIXES: Record<string, string> = {
  'depth:npy': '_depth.npy', 'depth:png16': '_depth16.png', 'depth:color': '_depth_color.png',
  'normal:npy': '_normal.npy', 'normal:png': '_normal.png',
};

const OWN_OUTPUT = new RegExp(`(${Object.values(OUTPUT_SUFFIXES).map((s) => s.replace('.', '\\.')).join('|')})$`, 'i');

/** True for a name this command writes (`cat_depth_color.png`): folder scans skip them. */
export function isOwnOutputName(name: string): boolean {
  return OWN_OUTPUT.test(name);
}
