// The XDP program, assembled here as raw eBPF instructions (no compiler at run time). For each
// frame on any queue of the interface:
//
//   frame shorter than 42 bytes (Ethernet + ARP) ............................ XDP_PASS
//   IPv4 (0x0800) whose destination is the dataplane's address .............. redirect
//   ARP (0x0806) whose target protocol address is the dataplane's address ... redirect
//   anything else ........................................................... XDP_PASS
//
// redirect = bpf_redirect_map(xskmap, ctx->rx_queue_index, XDP_PASS): to the AF_XDP socket of
// the queue the frame arrived on, or to Linux when that queue has no socket.
export const XDP_PASS = 2;
export const BPF_FUNC_REDIRECT_MAP = 51;
const BPF_PSEUDO_MAP_FD = 1;

/** One instruction: opcode, dst and src registers, 16-bit offset, 32-bit immediate. */
export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const I = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });
// opcodes used (linux/bpf.h, linux/bpf_common.h)
const MOV64_X = 0xbf;
const MOV64_K = 0xb7;
const ADD64_K = 0x07;
const LDX_W = 0x61;
const LDX_H = 0x69;
const JGT_X = 0x2d;
const JEQ_K = 0x15;
const JNE_K = 0x55;
const JNE32_K = 0x56; // 32-bit compare: the address immediate is not sign-extended
const JA = 0x05;
const LD_IMM64 = 0x18;
const CALL = 0x85;
const EXIT = 0x95;

// struct xdp_md
const XDP_MD_DATA = 0;
const XDP_MD_DATA_END = 4;
const XDP_MD_RX_QUEUE_INDEX = 16;

/** The 32-bit value a little-endian load sees for an IPv4 address held in host order. */
export function ipv4AsLoaded(addrHostOrder: number): number {
  const b = [(addrHostOrder >>> 24) & 0xff, (addrHostOrder >>> 16) & 0xff, (addrHostOrder >>> 8) & 0xff, addrHostOrder & 0xff];
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) | 0;
}

/** The program for the dataplane's IPv4 address (host byte order) and the XSKMAP's fd. */
export function dataplaneXdpProgram(addrHostOrder: number, xskMapFd: number): Insn[] {
  const ip = ipv4AsLoaded(addrHostOrder);
  const PASS = 19;
  const p: Insn[] = [
    /* 0 */ I(MOV64_X, 6, 1, 0, 0), // r6 = ctx
    /* 1 */ I(LDX_W, 2, 1, XDP_MD_DATA, 0), // r2 = data
    /* 2 */ I(LDX_W, 3, 1, XDP_MD_DATA_END, 0), // r3 = data_end
    /* 3 */ I(MOV64_X, 4, 2, 0, 0),
    /* 4 */ I(ADD64_K, 4, 0, 0, 42), // r4 = data + 42
    /* 5 */ I(JGT_X, 4, 3, PASS - 6, 0), // too short: pass
    /* 6 */ I(LDX_H, 5, 2, 12, 0), // r5 = ethertype (as loaded little-endian)
    /* 7 */ I(JEQ_K, 5, 0, 11 - 8, 0x0008), // IPv4
    /* 8 */ I(JNE_K, 5, 0, PASS - 9, 0x0608), // not ARP: pass
    /* 9 */ I(LDX_W, 5, 2, 14 + 24, 0), // ARP target protocol address
    /* 10 */ I(JA, 0, 0, 12 - 11, 0),
    /* 11 */ I(LDX_W, 5, 2, 14 + 16, 0), // IPv4 destination address
    /* 12 */ I(JNE32_K, 5, 0, PASS - 13, ip),
    /* 13 */ I(LDX_W, 2, 6, XDP_MD_RX_QUEUE_INDEX, 0), // key = rx_queue_index
    /* 14 */ I(LD_IMM64, 1, BPF_PSEUDO_MAP_FD, 0, xskMapFd), // r1 = &xskmap
    /* 15 */ I(0, 0, 0, 0, 0),
    /* 16 */ I(MOV64_K, 3, 0, 0, XDP_PASS), // flags: XDP_PASS when the queue has no socket
    /* 17 */ I(CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
    /* 18 */ I(EXIT, 0, 0, 0, 0),
    /* 19 */ I(MOV64_K, 0, 0, 0, XDP_PASS),
    /* 20 */ I(EXIT, 0, 0, 0, 0),
  ];
  return p;
}

/** struct bpf_insn bytes. */
export function encodeProgram(insns: Insn[]): Uint8Array {
  const out = new Uint8Array(8 * insns.length);
  const dv = new DataView(out.buffer);
  insns.forEach((x, i) => {
    dv.setUint8(8 * i, x.code);
    dv.setUint8(8 * i + 1, (x.dst & 0xf) | ((x.src & 0xf) << 4));
    dv.setInt16(8 * i + 2, x.off, true);
    dv.setInt32(8 * i + 4, x.imm, true);
  });
  return out;
}

/**
 * What the program decides for a frame, interpreted in TypeScript from the same instruction
 * list (a reference for the unit test: the program is checked against the rules above
 * without a kernel). Returns 'redirect' or 'pass'.
 */
export function interpret(insns: Insn[], frame: Uint8Array): 'redirect' | 'pass' {
  const r = new Array<number>(11).fill(0);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const DATA = 0x1000_0000; // symbolic packet pointers
  r[1] = 0; // ctx
  let pc = 0;
  for (let steps = 0; steps < 1000; steps++) {
    const x = insns[pc]!;
    pc++;
    switch (x.code) {
      case MOV64_X: r[x.dst] = r[x.src]!; break;
      case MOV64_K: r[x.dst] = x.imm; break;
      case ADD64_K: r[x.dst] = r[x.dst]! + x.imm; break;
      case LDX_W:
        if (r[x.src] === 0 && x.off === XDP_MD_DATA) r[x.dst] = DATA;
        else if (r[x.src] === 0 && x.off === XDP_MD_DATA_END) r[x.dst] = DATA + frame.length;
        else if (r[x.src] === 0) r[x.dst] = 0;
        else {
          const at = r[x.src]! - DATA + x.off;
          if (at < 0 || at + 4 > frame.length) throw new Error(`program reads outside the frame at ${at}`);
          r[x.dst] = dv.getUint32(at, true);
        }
        break;
      case LDX_H: {
        const at = r[x.src]! - DATA + x.off;
        if (at < 0 || at + 2 > frame.length) throw new Error(`program reads outside the frame at ${at}`);
        r[x.dst] = dv.getUint16(at, true);
        break;
      }
      case JGT_X: if (r[x.dst]! > r[x.src]!) pc += x.off; break;
      case JEQ_K: if (r[x.dst] === x.imm) pc += x.off; break;
      case JNE_K: if (r[x.dst] !== x.imm) pc += x.off; break;
      case JNE32_K: if ((r[x.dst]! | 0) !== (x.imm | 0)) pc += x.off; break;
      case JA: pc += x.off; break;
      case LD_IMM64: pc++; break;
      case CALL: r[0] = -1; break; // redirect
      case EXIT: return r[0] === -1 ? 'redirect' : 'pass';
      default: throw new Error(`opcode 0x${x.code.toString(16)} not interpreted`);
    }
  }
  throw new Error('program did not exit');
}
