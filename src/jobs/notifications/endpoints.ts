import dns from 'node:dns';
import net from 'node:net';
import { listsAddress, listsName, nonPublicRange, type HostList } from '../../core/addresses.js';

/** The error a connection attempt fails with when every address of the endpoint's host is refused. */
export class EndpointRefused extends Error {
  readonly code = 'ERR_PUSH_ENDPOINT_REFUSED';
}

export const isEndpointRefused = (err: unknown): err is EndpointRefused =>
  (err as { code?: unknown } | null)?.code === 'ERR_PUSH_ENDPOINT_REFUSED';

/**
 * Where push requests may go. Endpoints come from browsers, so they are user input: only
 * `https:` URLs (RFC 8030 §5 requires TLS), and only to public unicast addresses, never
 * loopback, private, link-local, unique-local, CGNAT, multicast or reserved ones (see
 * `nonPublicRange`), unless PUSH_ALLOWED_HOSTS lists the host name or the address.
 *
 * The check is made on the address actually connected to: an address written in the URL is
 * judged before any connection (Node does no lookup for it), a host name by `lookup`, which the
 * agent uses for every new connection, so a name that resolves to a public address once and to
 * an inner one later (DNS rebinding) is caught at the connection that would use it.
 */
export class EndpointPolicy {
  constructor(private readonly allowed: HostList) {}

  /** Why the endpoint may not be contacted at all, judged from its URL alone; undefined when it may be tried. */
  refusal(endpoint: string): string | undefined {
    const target = this.target(endpoint);
    return typeof target === 'string' ? target : undefined;
  }

  /** The endpoint's parsed URL when it may be tried (its address is judged again at connection); else why not. */
  target(endpoint: string): URL | string {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      return 'endpoint is not a URL';
    }
    if (url.protocol !== 'https:') return 'endpoint is not an https URL';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (listsName(this.allowed, host) || !net.isIP(host)) return url;
    const range = this.refusedRange(host);
    return range ? `endpoint refused: ${host} is a ${range} address` : url;
  }

  /** The kind of address it is when it may not be connected to ("loopback", "private", ...), or undefined. */
  private refusedRange(address: string): string | undefined {
    return listsAddress(this.allowed, address) ? undefined : nonPublicRange(address);
  }

  /**
   * A `dns.lookup` for the agent (net.connect's `lookup` option): resolves as usual, then keeps
   * only the addresses that may be connected to; when none is left, fails with
   * `EndpointRefused` before any connection is opened.
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', undefined);
      const permitted = listsName(this.allowed, hostname)
        ? addresses
        : addresses.filter(({ address }) => this.refusedRange(address) === undefined);
      if (permitted.length === 0) {
        const [{ address }] = addresses;
        const reason = `endpoint refused: ${hostname} resolves to ${address}, a ${this.refusedRange(address)} address`;
        return callback(new EndpointRefused(reason), '', undefined);
      }
      if (options.all) return callback(null, permitted);
      callback(null, permitted[0].address, permitted[0].family);
    });
  };
}
