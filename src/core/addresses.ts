import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Destinations an operator allows although they are not public: exact host names (lower case,
 * no trailing dot) and address ranges (a single address is a /32 or /128 range).
 */
export interface HostList {
  names: string[];
  ranges: [Address, number][];
}

// RFC 1123 §2.1 host name: dot-separated labels of letters, digits and inner hyphens.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`, 'i');

/** A host name, not an address in a spelling `parseAddress` refuses (`127.1`). */
const isHostName = (text: string) => HOST_NAME.test(text.replace(/\.$/, '')) && !/^[\d.]+$/.test(text);

/** An address in the one spelling it is compared in: IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4. */
function parseAddress(text: string): Address | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1');
  // Only the dotted-quad IPv4 form: `127.1` or `2130706433` are not what an operator means by an address.
  if (!ipaddr.IPv4.isValidFourPartDecimal(bare) && !ipaddr.IPv6.isValid(bare)) return undefined;
  return ipaddr.process(bare);
}

/** `10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104` (then as IPv4 `10.0.0.0/8`); undefined when malformed. */
function parseRange(text: string): [Address, number] | undefined {
  const [address, bits, ...rest] = text.split('/');
  if (bits === undefined || rest.length > 0 || !/^\d{1,3}$/.test(bits)) return undefined;
  const raw = ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address) ? ipaddr.parse(address) : undefined;
  const prefix = Number(bits);
  if (!raw || prefix > (raw.kind() === 'ipv4' ? 32 : 128)) return undefined;
  if (raw.kind() === 'ipv6' && (raw as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96)
    return [(raw as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  return [raw, prefix];
}

/**
 * Parses a comma-separated list of host names, IP addresses and CIDR ranges (RFC 4632; IPv6
 * RFC 4291 §2.3), e.g. `push.internal, 10.1.2.3, fd00::/8`. Blank entries are ignored.
 * Returns the list and the entries that are none of the three (the caller reports them: exit 78).
 */
export function parseHostList(value: string): { list: HostList; malformed: string[] } {
  const list: HostList = { names: [], ranges: [] };
  const malformed: string[] = [];
  for (const entry of value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const address = entry.includes('/') ? undefined : parseAddress(entry);
    const range = address ? ([address, address.kind() === 'ipv4' ? 32 : 128] as [Address, number]) : parseRange(entry);
    if (range) list.ranges.push(range);
    else if (isHostName(entry)) list.names.push(entry.replace(/\.$/, '').toLowerCase());
    else malformed.push(entry);
  }
  return { list, malformed };
}

/** True when `hostname` (a URL's host name, any case) is one of the list's names. */
export const listsName = (list: HostList, hostname: string): boolean =>
  list.names.includes(hostname.replace(/\.$/, '').toLowerCase());

/** True when the address (IPv4 or IPv6 text, brackets allowed) lies in one of the list's ranges. */
export function listsAddress(list: HostList, text: string): boolean {
  const address = parseAddress(text);
  return address !== undefined && list.ranges.some(([net, bits]) => net.kind() === address.kind() && address.match(net, bits));
}

// How an operator reads ipaddr.js's range names.
const RANGE_NAMES: Record<string, string> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  private: 'private',
  reserved: 'reserved',
  uniqueLocal: 'unique-local',
  deprecatedSiteLocal: 'site-local',
  ipv4Mapped: 'IPv4-mapped',
  rfc6145: 'IPv4-translated',
  rfc6052: 'NAT64',
  '6to4': '6to4',
  teredo: 'Teredo',
};

// The NAT64 well-known prefix (RFC 6052 §2.1): the last 32 bits are the IPv4 address it leads to.
const NAT64_WELL_KNOWN: [ipaddr.IPv6, number] = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

/**
 * Why an address is not a public unicast one, as a short name ("loopback", "private",
 * "link-local", "unique-local", "carrier-grade NAT (100.64.0.0/10)", "multicast", "reserved",
 * ...), or undefined when it is public. IPv4-mapped IPv6 is judged as the IPv4 address it maps,
 * a NAT64 address (64:ff9b::/96) as the IPv4 address it leads to. The ranges are IANA's special
 * registries (RFC 6890) as ipaddr.js keeps them; anything but its `unicast` is refused.
 * Throws on a string that is not an address.
 */
export function nonPublicRange(text: string): string | undefined {
  let address = ipaddr.process(text.replace(/^\[(.*)\]$/, '$1'));
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).match(NAT64_WELL_KNOWN)) {
    address = ipaddr.fromByteArray(address.toByteArray().slice(12));
  }
  const range = address.range();
  return range === 'unicast' ? undefined : (RANGE_NAMES[range] ?? range);
}
