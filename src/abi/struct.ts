/**
 * One way to declare, read and write a structure that the host and the guest share in
 * memory. Each structure in guest/include/ix/ is declared once here with `defineStruct`
 * (C name, size, fields with their offsets and types); `readStruct`/`writeStruct` move it
 * between a DataView and a plain object, little-endian as on x86-64. test/abi-layout.test.ts
 * compiles every header in guest/include/ix and checks every declared struct, field offset,
 * field size and constant against the C compiler's sizeof/offsetof.
 *
 * The guest is untrusted: reads of guest-written structures return raw values that callers
 * still bound-check before using them as lengths or addresses.
 */

export type Scalar = 'u8' | 'u16' | 'u32' | 'i32' | 'u64';

export interface ScalarField {
  readonly at: number;
  readonly type: Scalar;
  /** array length (absent: one value) */
  readonly count?: number;
  /** the C field name when it is not the snake_case of the key */
  readonly c?: string;
}
export interface BytesField {
  readonly at: number;
  readonly type: 'bytes';
  readonly count: number;
  readonly c?: string;
}
export interface NestedField {
  readonly at: number;
  readonly type: StructDef;
  readonly count?: number;
  readonly c?: string;
}
export type Field = ScalarField | BytesField | NestedField;
export type Fields = Record<string, Field>;

export interface StructDef<F extends Fields = Fields> {
  /** the C struct's tag, e.g. 'ix_bootinfo' */
  readonly c: string;
  readonly size: number;
  readonly fields: F;
  /** each field's offset, e.g. BootInfo.at.nic */
  readonly at: { readonly [K in keyof F]: number };
}

type One<T extends Field> = T extends { type: 'u64' }
  ? bigint
  : T extends { type: 'bytes' }
    ? Uint8Array
    : T extends { type: StructDef<infer G> }
      ? StructValue<StructDef<G>>
      : number;
type FieldValue<T extends Field> = T extends { type: 'bytes' } ? Uint8Array : T extends { count: number } ? One<T>[] : One<T>;

/** The plain object a struct reads into (u64 as bigint, other scalars as number). */
export type StructValue<S extends StructDef> = { -readonly [K in keyof S['fields']]: FieldValue<S['fields'][K]> };

type WriteOne<T extends Field> = T extends { type: 'u64' }
  ? bigint | number
  : T extends { type: StructDef<infer G> }
    ? WriteValue<StructDef<G>>
    : number;
type WriteField<T extends Field> = T extends { type: 'bytes' } ? Uint8Array : T extends { count: number } ? ArrayLike<WriteOne<T>> : WriteOne<T>;
/** What writeStruct takes: any subset of the fields (nested structs too); u64 as bigint or a safe integer. */
export type WriteValue<S extends StructDef> = { -readonly [K in keyof S['fields']]?: WriteField<S['fields'][K]> };

const SCALAR_SIZE: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

export class AbiError extends Error {
  override name = 'AbiError';
}

/** Bytes one element of a field takes. */
export function elementSize(f: Field): number {
  if (f.type === 'bytes') return 1;
  return typeof f.type === 'string' ? SCALAR_SIZE[f.type] : f.type.size;
}

/** Bytes a field takes (all its elements). */
export function fieldSize(f: Field): number {
  return elementSize(f) * (f.count ?? 1);
}

export const snakeCase = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The C name of a field. */
export const cName = (key: string, f: Field): string => f.c ?? snakeCase(key);

export function defineStruct<const F extends Fields>(c: string, size: number, fields: F): StructDef<F> {
  const at = {} as Record<keyof F, number>;
  for (const [k, f] of Object.entries(fields) as [keyof F & string, Field][]) {
    if (f.at < 0 || f.at + fieldSize(f) > size) throw new AbiError(`${c}.${k}: bytes ${f.at}..${f.at + fieldSize(f)} are outside the ${size}-byte struct`);
    at[k] = f.at;
  }
  return Object.freeze({ c, size, fields, at });
}

// Field constructors: u32(8) is a uint32_t at offset 8; array('u64', 16, 4) is uint64_t[4] at 16.
const scalar = <const T extends Scalar>(type: T) => (at: number, c?: string) => ({ at, type, c }) as const;
export const u8 = scalar('u8');
export const u16 = scalar('u16');
export const u32 = scalar('u32');
export const i32 = scalar('i32');
export const u64 = scalar('u64');
export const array = <const T extends Scalar, const N extends number>(type: T, at: number, count: N, c?: string) => ({ at, type, count, c }) as const;
export const bytes = (at: number, count: number, c?: string) => ({ at, type: 'bytes', count, c }) as const;
export const nested = <const S extends StructDef>(at: number, type: S, c?: string) => ({ at, type, c }) as const;
export const nestedArray = <const S extends StructDef, const N extends number>(at: number, type: S, count: N, c?: string) => ({ at, type, count, c }) as const;

function checkRange(s: StructDef, dv: DataView, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + s.size > dv.byteLength)
    throw new AbiError(`struct ${s.c} (${s.size} bytes) at offset ${offset} does not fit in a ${dv.byteLength}-byte view`);
}

function readOne(dv: DataView, o: number, t: Scalar): number | bigint {
  switch (t) {
    case 'u8': return dv.getUint8(o);
    case 'u16': return dv.getUint16(o, true);
    case 'u32': return dv.getUint32(o, true);
    case 'i32': return dv.getInt32(o, true);
    case 'u64': return dv.getBigUint64(o, true);
  }
}

function writeOne(dv: DataView, o: number, t: Scalar, v: unknown, what: string): void {
  if (t === 'u64') {
    const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
    if (b === null || b < 0n || b >= 1n << 64n) throw new AbiError(`${what} = ${String(v)} is not a 64-bit unsigned integer`);
    dv.setBigUint64(o, b, true);
    return;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new AbiError(`${what} = ${String(v)} is not an integer`);
  const bits = SCALAR_SIZE[t] * 8;
  const [lo, hi] = t === 'i32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** bits - 1];
  if (v < lo || v > hi) throw new AbiError(`${what} = ${v} does not fit in ${t}`);
  if (t === 'u8') dv.setUint8(o, v);
  else if (t === 'u16') dv.setUint16(o, v, true);
  else if (t === 'u32') dv.setUint32(o, v, true);
  else dv.setInt32(o, v, true);
}

function readField(dv: DataView, base: number, f: Field): unknown {
  const o = base + f.at;
  if (f.type === 'bytes') return new Uint8Array(dv.buffer, dv.byteOffset + o, f.count).slice();
  const one = (i: number): unknown => {
    const e = o + i * elementSize(f);
    return typeof f.type === 'string' ? readOne(dv, e, f.type) : readAt(f.type, dv, e);
  };
  if (f.count === undefined) return one(0);
  return Array.from({ length: f.count }, (_, i) => one(i));
}

function readAt<S extends StructDef>(s: S, dv: DataView, offset: number): StructValue<S> {
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(s.fields)) out[k] = readField(dv, offset, f);
  return out as StructValue<S>;
}

/** Read the whole struct at `offset` of `dv`. */
export function readStruct<S extends StructDef>(s: S, dv: DataView, offset = 0): StructValue<S> {
  checkRange(s, dv, offset);
  return readAt(s, dv, offset);
}

/** Read one field (the hot-path form: no object for the rest of the struct). */
export function readField1<S extends StructDef, K extends keyof S['fields'] & string>(s: S, dv: DataView, offset: number, key: K): StructValue<S>[K] {
  checkRange(s, dv, offset);
  return readField(dv, offset, s.fields[key]!) as StructValue<S>[K];
}

function writeAt(s: StructDef, dv: DataView, offset: number, v: Record<string, unknown>): void {
  for (const [k, val] of Object.entries(v)) {
    if (val === undefined) continue;
    const f = s.fields[k];
    if (!f) throw new AbiError(`struct ${s.c} has no field ${k}`);
    const o = offset + f.at;
    const what = `${s.c}.${k}`;
    if (f.type === 'bytes') {
      if (!(val instanceof Uint8Array) || val.length > f.count) throw new AbiError(`${what} takes at most ${f.count} bytes`);
      new Uint8Array(dv.buffer, dv.byteOffset + o, f.count).fill(0).set(val);
      continue;
    }
    const list = f.count === undefined ? [val] : (val as ArrayLike<unknown>);
    if (f.count !== undefined && (typeof list !== 'object' || list.length > f.count)) throw new AbiError(`${what} takes at most ${f.count} elements`);
    for (let i = 0; i < list.length; i++) {
      const e = o + i * elementSize(f);
      if (typeof f.type === 'string') writeOne(dv, e, f.type, list[i], f.count === undefined ? what : `${what}[${i}]`);
      else writeAt(f.type, dv, e, list[i] as Record<string, unknown>);
    }
  }
}

/**
 * Write the given fields of a struct at `offset` of `dv` (fields left out are not touched;
 * arrays may be shorter than the field). `{ zero: true }` clears the whole struct first.
 */
export function writeStruct<S extends StructDef>(s: S, dv: DataView, offset: number, v: WriteValue<S>, o: { zero?: boolean } = {}): void {
  checkRange(s, dv, offset);
  if (o.zero) new Uint8Array(dv.buffer, dv.byteOffset + offset, s.size).fill(0);
  writeAt(s, dv, offset, v as Record<string, unknown>);
}
