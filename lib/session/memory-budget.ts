import { socketDError } from '../protocol/errors.js';
import {
  DEFAULT_MEMORY_BUDGET,
  DEFAULT_MEMORY_BUDGET_PER_ADDRESS,
  DEFAULT_MEMORY_BUDGET_PER_CONNECTION,
  type ConnectionMemory,
  type ServerMemory,
} from './connection.js';

/**
 * The last bytes of the server's budget are kept for connections holding little (under
 * `LIGHT_ACCOUNT`: a new call, a small answer), so that peers filling the budget with bulk do
 * not lock every other client out. At most a 16th of the budget.
 */
const LIGHT_RESERVE = 4 * 1024 * 1024;
/** A connection holding at most this many bytes may draw on the reserve. */
const LIGHT_ACCOUNT = 1024 * 1024;

/** What one remote IP holds, over all its connections. */
interface AddressShare {
  used: number;
  accounts: number;
}

/**
 * The bytes one server may hold on behalf of its peers (`memoryBudget`): partial frames,
 * fragments being reassembled, bytes queued for writing, Nest stream values queued for a
 * slow client, broker forwards and a fixed cost per open stream all draw from it, with a
 * share per remote IP and per connection so that one address cannot take it all.
 *
 * Each connection draws through its own {@link MemoryAccount}; charging and releasing are
 * O(1) integer arithmetic (no allocation).
 */
export class MemoryBudget implements ServerMemory {
  /** Bytes charged now, over every account. */
  used = 0;
  private readonly addresses = new Map<string, AddressShare>();

  /**
   * @param limit bytes for the whole server.
   * @param perAddress bytes for the connections of one remote IP together (at most `limit`).
   * @param perConnection bytes for one connection (at most `perAddress`).
   * @throws `SOCKETD_ERR_INVALID_ARGUMENT` unless all three are positive.
   */
  constructor(
    readonly limit: number = DEFAULT_MEMORY_BUDGET,
    perAddress: number = DEFAULT_MEMORY_BUDGET_PER_ADDRESS,
    perConnection: number = DEFAULT_MEMORY_BUDGET_PER_CONNECTION,
  ) {
    for (const [name, value] of [['memoryBudget', limit], ['memoryBudgetPerAddress', perAddress], ['memoryBudgetPerConnection', perConnection]] as const) {
      if (typeof value !== 'number' || !(value > 0)) throw socketDError('INVALID_ARGUMENT', `${name} must be a positive number, got ${value}`);
    }
    this.perAddress = Math.min(perAddress, limit);
    this.perConnection = Math.min(perConnection, this.perAddress);
    this.reserve = Math.min(LIGHT_RESERVE, limit / 16);
  }

  /** The last bytes of `limit`, for connections holding under 1 MiB only. */
  readonly reserve: number;

  /** The share of one remote IP (never above `limit`). */
  readonly perAddress: number;
  /** The share of one connection (never above `perAddress`). */
  readonly perConnection: number;

  /** Bytes charged now by the connections of `ip`. */
  usedBy(ip: string): number {
    return this.addresses.get(ip)?.used ?? 0;
  }

  /** Opens the account of one connection from `ip`; close it when the connection closes. */
  open(ip: string | undefined): MemoryAccount {
    const key = ip ?? '';
    let share = this.addresses.get(key);
    if (share === undefined) {
      share = { used: 0, accounts: 0 };
      this.addresses.set(key, share);
    }
    share.accounts++;
    return new MemoryAccount(this, share, key);
  }

  /** @internal an account closed: forget its address once it has no account left. */
  forget(key: string, share: AddressShare): void {
    if (--share.accounts === 0 && this.addresses.get(key) === share) this.addresses.delete(key);
  }
}

/**
 * One connection's draw on its server's {@link MemoryBudget}. Clients, and transports that
 * keep no budget (`sd:udp`), have none: nothing is charged for them.
 */
export class MemoryAccount implements ConnectionMemory {
  /** Bytes this connection holds now. */
  used = 0;
  private closed = false;

  /** @internal use `MemoryBudget.open()`. */
  constructor(
    /** The server's budget. */
    readonly budget: MemoryBudget,
    private readonly share: AddressShare,
    private readonly key: string,
  ) {}

  /**
   * Takes `n` more bytes; false, taking nothing, when that would pass this connection's share,
   * its address's share or the server's budget (its reserve included, unless this connection
   * holds under 1 MiB), or the account is closed.
   */
  take(n: number): boolean {
    if (!this.fits(n)) return false;
    this.used += n;
    this.share.used += n;
    this.budget.used += n;
    return true;
  }

  /** True when `n` more bytes would fit now (nothing is taken). */
  fits(n: number): boolean {
    const budget = this.budget;
    const after = budget.used + n;
    return !this.closed && this.used + n <= budget.perConnection && this.share.used + n <= budget.perAddress
      && after <= budget.limit && (after <= budget.limit - budget.reserve || this.used + n <= LIGHT_ACCOUNT);
  }

  /** Bytes left in this connection's own share (whatever the address and the server have left). */
  shareLeft(): number {
    return this.closed ? 0 : this.budget.perConnection - this.used;
  }

  /** Gives back `n` bytes taken before (nothing once closed: closing gave everything back). */
  give(n: number): void {
    if (this.closed) return;
    this.used -= n;
    this.share.used -= n;
    this.budget.used -= n;
  }

  /** Names what refused a charge of `n` bytes, for an error message. */
  describeRefusal(n: number): string {
    const budget = this.budget;
    if (this.used + n > budget.perConnection) return `memoryBudgetPerConnection ${budget.perConnection} (this connection holds ${this.used})`;
    if (this.share.used + n > budget.perAddress) return `memoryBudgetPerAddress ${budget.perAddress} (its address holds ${this.share.used})`;
    if (budget.used + n > budget.limit) return `memoryBudget ${budget.limit} (the server holds ${budget.used})`;
    return `memoryBudget ${budget.limit} (the server holds ${budget.used}; its last ${budget.reserve} bytes are kept for connections holding under ${LIGHT_ACCOUNT})`;
  }

  /** The connection closed: gives back everything it held; later charges fail, gives do nothing. */
  close(): void {
    if (this.closed) return;
    this.give(this.used);
    this.closed = true;
    this.budget.forget(this.key, this.share);
  }
}
