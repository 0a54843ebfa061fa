// decodeTcpInfo over buffers written byte by byte at offsets computed by hand from
// include/uapi/linux/tcp.h, independently of the decoder's own table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTcpInfo, TCP_INFO_FIELDS, type TcpInfo, tcpInfoSupported } from "../src/tcp_info.ts";

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes an unsigned integer of `size` bytes at `offset`, one byte at a time. */
function put(
  bytes: Uint8Array,
  offset: number,
  size: number,
  value: number | bigint,
  littleEndian: boolean,
): void {
  let rest = BigInt(value);
  for (let i = 0; i < size; i++) {
    bytes[littleEndian ? offset + i : offset + size - 1 - i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  assert.equal(rest, 0n, `${value} does not fit in ${size} bytes`);
}

const U8 = 1;
const U16 = 2;
const U32 = 4;
const U64 = 8;

// [offset, size, value, property, expected], in the order of the C struct.
type Entry = [number, number, number | bigint, keyof TcpInfo | null, unknown];

function entries(littleEndian: boolean): Entry[] {
  // Byte 6: tcpi_snd_wscale:4 then tcpi_rcv_wscale:4; byte 7: tcpi_delivery_rate_app_limited:1
  // then tcpi_fastopen_client_fail:2. The first declared bitfield takes the low bits on
  // little-endian ABIs and the high bits on big-endian ones.
  const wscale = littleEndian ? (9 << 4) | 7 : (7 << 4) | 9; // snd 7, rcv 9
  const flags = littleEndian ? (2 << 1) | 1 : (1 << 7) | (2 << 5); // app limited, fastopen fail 2
  return [
    [0, U8, 4, "state", "FIN_WAIT1"],
    [1, U8, 3, "caState", "Recovery"],
    [2, U8, 5, "retransmits", 5],
    [3, U8, 6, "probes", 6],
    [4, U8, 7, "backoff", 7],
    [5, U8, 0b1010_0101, "options", {
      timestamps: true,
      sack: false,
      windowScaling: true,
      ecn: false,
      ecnSeen: false,
      synData: true,
      usecTimestamps: false,
      ecnLow: true,
    }],
    [6, U8, wscale, null, undefined],
    [7, U8, flags, null, undefined],
    [8, U32, 204_000, "rtoUs", 204_000],
    [12, U32, 40_000, "ato", 40_000],
    [16, U32, 1448, "sndMss", 1448],
    [20, U32, 536, "rcvMss", 536],
    [24, U32, 11, "unacked", 11],
    [28, U32, 12, "sacked", 12],
    [32, U32, 13, "lost", 13],
    [36, U32, 14, "retrans", 14],
    [40, U32, 15, "fackets", 15],
    [44, U32, 1001, "lastDataSentMs", 1001],
    [48, U32, 1002, "lastAckSentMs", 1002],
    [52, U32, 1003, "lastDataRecvMs", 1003],
    [56, U32, 1004, "lastAckRecvMs", 1004],
    [60, U32, 65_535, "pmtu", 65_535],
    [64, U32, 64_076, "rcvSsthresh", 64_076],
    [68, U32, 12_345, "rttUs", 12_345],
    [72, U32, 6_789, "rttVarUs", 6_789],
    [76, U32, 0x7fff_ffff, "sndSsthresh", 0x7fff_ffff],
    [80, U32, 10, "sndCwnd", 10],
    [84, U32, 1460, "advmss", 1460],
    [88, U32, 3, "reordering", 3],
    [92, U32, 777, "rcvRttUs", 777],
    [96, U32, 14_600, "rcvSpace", 14_600],
    [100, U32, 0xffff_ffff, "totalRetrans", 0xffff_ffff],
    [104, U64, 0xffff_ffff_ffff_ffffn, "pacingRate", Infinity],
    [112, U64, 2 ** 40 + 1, "maxPacingRate", 2 ** 40 + 1],
    [120, U64, 2 ** 33 + 120, "bytesAcked", 2 ** 33 + 120],
    [128, U64, 2 ** 34 + 128, "bytesReceived", 2 ** 34 + 128],
    [136, U32, 136, "segsOut", 136],
    [140, U32, 140, "segsIn", 140],
    [144, U32, 144, "notsentBytes", 144],
    [148, U32, 148, "minRttUs", 148],
    [152, U32, 152, "dataSegsIn", 152],
    [156, U32, 156, "dataSegsOut", 156],
    [160, U64, 2 ** 35 + 160, "deliveryRate", 2 ** 35 + 160],
    [168, U64, 2 ** 36 + 168, "busyTimeUs", 2 ** 36 + 168],
    [176, U64, 2 ** 37 + 176, "rwndLimitedUs", 2 ** 37 + 176],
    [184, U64, 2 ** 38 + 184, "sndbufLimitedUs", 2 ** 38 + 184],
    [192, U32, 192, "delivered", 192],
    [196, U32, 196, "deliveredCe", 196],
    [200, U64, 2 ** 52 + 200, "bytesSent", 2 ** 52 + 200],
    [208, U64, 2 ** 39 + 208, "bytesRetrans", 2 ** 39 + 208],
    [216, U32, 216, "dsackDups", 216],
    [220, U32, 220, "reordSeen", 220],
    [224, U32, 224, "rcvOooPack", 224],
    [228, U32, 228, "sndWnd", 228],
    [232, U32, 232, "rcvWnd", 232],
    [236, U32, 236, "rehash", 236],
    [240, U16, 0xfff0, "totalRto", 0xfff0],
    [242, U16, 242, "totalRtoRecoveries", 242],
    [244, U32, 244, "totalRtoTimeMs", 244],
    [248, U32, 248, "receivedCe", 248],
    [252, U32, 252, "deliveredE1Bytes", 252],
    [256, U32, 256, "deliveredE0Bytes", 256],
    [260, U32, 260, "deliveredCeBytes", 260],
    [264, U32, 264, "receivedE1Bytes", 264],
    [268, U32, 268, "receivedE0Bytes", 268],
    [272, U32, 272, "receivedCeBytes", 272],
  ];
}

// The properties packed into bytes 6 and 7, with the values `entries` wrote there.
const BITFIELDS: Partial<Record<keyof TcpInfo, unknown>> = {
  sndWscale: 7,
  rcvWscale: 9,
  deliveryRateAppLimited: true,
  fastopenClientFail: 2,
};

/** A struct of `length` bytes (Linux 6.18's is 280) holding every entry that fits. */
function build(length: number, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(length);
  for (const [offset, size, value] of entries(littleEndian)) {
    if (offset + size <= length) put(bytes, offset, size, value, littleEndian);
  }
  // The Accurate ECN mode bits, which the decoder leaves alone.
  if (length >= 280) put(bytes, 276, U32, 0xdead_beef, littleEndian);
  return bytes;
}

/** What decoding a struct of `length` bytes must give. */
function expected(length: number, littleEndian: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { ...BITFIELDS };
  for (const [offset, size, , key, value] of entries(littleEndian)) {
    if (key !== null) out[key] = offset + size <= length ? value : undefined;
  }
  return out;
}

test("every field of a full struct decodes from its hand-computed offset (little-endian)", () => {
  const info = decodeTcpInfo(build(280, true), { littleEndian: true });
  assert.deepEqual({ ...info }, expected(280, true));
});

test("every field decodes in big-endian order, bitfields from the high bits", () => {
  const info = decodeTcpInfo(build(280, false), { littleEndian: false });
  assert.deepEqual({ ...info }, expected(280, false));
});

test("the default byte order is the host's", () => {
  const info = decodeTcpInfo(build(280, hostLittleEndian));
  assert.deepEqual({ ...info }, expected(280, hostLittleEndian));
});

test("a shorter struct (an older kernel) leaves the fields it lacks undefined", () => {
  // 104: original; 120: pacing rates; 136: bytes acked/received (4.1); 160: 4.6; 168: 4.9;
  // 192: 4.10; 200: 4.18; 224: 4.19; 232: 5.4; 240: 6.2; 248: 6.7; 276: 6.18.
  for (
    const length of [104, 111, 112, 120, 123, 136, 160, 168, 192, 200, 224, 232, 240, 248, 276]
  ) {
    const info = decodeTcpInfo(build(length, true), { littleEndian: true });
    assert.deepEqual({ ...info }, expected(length, true), `length ${length}`);
  }
  const old = decodeTcpInfo(build(104, true), { littleEndian: true });
  assert.equal(old.totalRetrans, 0xffff_ffff);
  assert.equal(old.pacingRate, undefined);
  assert.equal(old.bytesAcked, undefined);
  assert.ok("bytesAcked" in old, "absent fields are present as undefined");
  const mid = decodeTcpInfo(build(241, true), { littleEndian: true });
  assert.equal(mid.rehash, 236);
  assert.equal(mid.totalRto, undefined, "a field cut in the middle is undefined");
});

test("bytes past the known layout are ignored", () => {
  const bytes = new Uint8Array(512).fill(0xff);
  bytes.set(build(280, true));
  assert.deepEqual({ ...decodeTcpInfo(bytes, { littleEndian: true }) }, expected(280, true));
});

test("a view into a larger buffer decodes from its own start", () => {
  const backing = new Uint8Array(300 + 17).fill(0xaa);
  backing.set(build(248, true), 17);
  const view = backing.subarray(17, 17 + 248);
  assert.deepEqual({ ...decodeTcpInfo(view, { littleEndian: true }) }, expected(248, true));
});

test("state and congestion state names, and numbers the table does not know", () => {
  const names = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
    "BOUND_INACTIVE",
  ];
  const bytes = new Uint8Array(104);
  for (let code = 0; code < 256; code++) {
    bytes[0] = code;
    bytes[1] = code;
    const info = decodeTcpInfo(bytes);
    assert.equal(info.state, names[code - 1] ?? "UNKNOWN", `tcpi_state ${code}`);
    assert.equal(
      info.caState,
      ["Open", "Disorder", "CWR", "Recovery", "Loss"][code] ?? "UNKNOWN",
      `tcpi_ca_state ${code}`,
    );
  }
});

test("the pacing rates read ~0 as unlimited and other values as numbers", () => {
  const bytes = build(120, true);
  put(bytes, 104, U64, 0n, true);
  put(bytes, 112, U64, 0xffff_ffff_ffff_ffffn, true);
  const info = decodeTcpInfo(bytes, { littleEndian: true });
  assert.equal(info.pacingRate, 0);
  assert.equal(info.maxPacingRate, Infinity);
});

test("the table covers every property once and names the C fields in order", () => {
  const keys = TCP_INFO_FIELDS.map((f) => f.key);
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(
    [...keys].sort(),
    Object.keys(decodeTcpInfo(new Uint8Array(104))).sort(),
  );
  for (let i = 1; i < TCP_INFO_FIELDS.length; i++) {
    assert.ok(TCP_INFO_FIELDS[i].offset >= TCP_INFO_FIELDS[i - 1].offset);
  }
  assert.ok(TCP_INFO_FIELDS.every((f) => f.name.startsWith("tcpi_")));
  assert.ok(Object.isFrozen(TCP_INFO_FIELDS) && Object.isFrozen(TCP_INFO_FIELDS[6].bits));
});

test("bad input is rejected with the argument's name", () => {
  assert.throws(() => decodeTcpInfo([1, 2, 3] as unknown as Uint8Array), {
    name: "TypeError",
    message: 'Argument "bytes" must be a Uint8Array, got an array',
  });
  assert.throws(() => decodeTcpInfo(new ArrayBuffer(104) as unknown as Uint8Array), {
    name: "TypeError",
    message: 'Argument "bytes" must be a Uint8Array, got an object',
  });
  assert.throws(() => decodeTcpInfo(undefined as unknown as Uint8Array), {
    name: "TypeError",
    message: 'Argument "bytes" must be a Uint8Array, got undefined',
  });
  assert.throws(() => decodeTcpInfo(new Uint8Array(103)), {
    name: "RangeError",
    message: 'Argument "bytes" must hold at least 104 bytes of struct tcp_info, got 103',
  });
  assert.throws(
    () => decodeTcpInfo(new Uint8Array(104), { littleEndian: 1 as unknown as boolean }),
    {
      name: "TypeError",
      message: 'Option "littleEndian" must be a boolean, got number 1',
    },
  );
  assert.throws(() => decodeTcpInfo(new Uint8Array(104), null as unknown as undefined), {
    name: "TypeError",
    message: 'Argument "options" must be an object, got null',
  });
});

test("tcpInfoSupported is true on Linux only", () => {
  assert.equal(tcpInfoSupported("linux"), true);
  assert.equal(tcpInfoSupported("android"), true);
  for (const platform of ["darwin", "win32", "windows", "freebsd", "openbsd", "aix", "sunos", ""]) {
    assert.equal(tcpInfoSupported(platform), false, platform);
  }
  assert.throws(() => tcpInfoSupported(42 as unknown as string), {
    name: "TypeError",
    message: 'Argument "platform" must be a string, got number 42',
  });
});
