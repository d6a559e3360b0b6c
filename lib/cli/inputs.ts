// Expands the image/folder arguments of `lotus depth|normal` into a sorted list of image files
// and decides where each output goes.
import fs from 'node:fs';
import path from 'node:path';
import { ImageError } from '../errors';
import { describeFileKind } from '../io/regular-file';
import { isOwnOutputName } from './output-names';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff'];

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/**
 * Files are taken as given (sharp reports what it cannot decode) but must be regular files (a
 * FIFO or device would block the read); folders contribute their image files (not recursively),
 * sorted by name, except the files this command writes (`*_depth_color.png`, ...), so a second run
 * over a folder does not take the first run's outputs as inputs. Duplicates are dropped.
 */
export async function expandInputs(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (file: string) => {
    const abs = path.resolve(file);
    if (!seen.has(abs)) {
      seen.add(abs);
      out.push(file);
    }
  };
  for (const arg of args) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(arg);
    } catch {
      throw new ImageError(`no such file or folder: ${arg}`);
    }
    if (stat.isDirectory()) {
      const names = (await fs.promises.readdir(arg)).filter((name) => isImageName(name) && !isOwnOutputName(name)).sort();
      const files = [];
      for (const name of names) {
        const file = path.join(arg, name);
        if ((await fs.promises.stat(file)).isFile()) files.push(file);
      }
      if (files.length === 0) {
        throw new ImageError(`the folder ${arg} holds no images (${IMAGE_EXTENSIONS.join(', ')})`);
      }
      files.forEach(add);
    } else if (stat.isFile()) {
      add(arg);
    } else {
      throw new ImageError(`${arg} is ${describeFileKind(stat)}, not a regular file; lotus reads image files (save the image to a file first)`);
    }
  }
  return out;
}

/** `photo.jpg` -> `photo`: the stem the output names start with. */
export function stem(file: string): string {
  const base = path.basename(file);
  const ext = path.extname(base);
  return ext ? base.slice(0, -ext.length) : base;
}

/** Output folder of one input: --out, or the input's own folder. */
export function outputDir(file: string, out: string | undefined): string {
  return out ?? path.dirname(file);
}

/** Two inputs with the same stem going to one folder would overwrite each other's outputs. */
export function findCollision(files: readonly string[], out: string | undefined): [string, string] | undefined {
  const byTarget = new Map<string, string>();
  for (const file of files) {
    const key = path.join(path.resolve(outputDir(file, out)), stem(file));
    const other = byTarget.get(key);
    if (other !== undefined) return [other, file];
    byTarget.set(key, file);
  }
  return undefined;
}
