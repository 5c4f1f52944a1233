/**
 * Container names: one name per container, unique across the daemon,
 * stored with Docker's leading "/"; and generated "<adjective>_<surname>"
 * names for containers created without one (Docker's namesgenerator, with
 * hako's own word lists).
 */
import { randomInt } from "node:crypto";
import { ConflictError, InvalidArgumentError } from "../common/errors.ts";

/** Docker's RestrictedNameChars (container and volume names). */
export const RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]";
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

// Words that describe a good colleague. Our own list.
const ADJECTIVES: readonly string[] = [
  "agile", "amber", "ample", "ardent", "balmy", "blithe", "bold", "bright", "brisk", "buoyant",
  "calm", "candid", "cheery", "civic", "clever", "cosmic", "crisp", "curious", "daring", "deft",
  "devoted", "eager", "earnest", "elated", "epic", "fervent", "fluent", "frank", "gentle", "gifted",
  "glad", "graceful", "hardy", "hearty", "honest", "humble", "jolly", "jovial", "keen", "kind",
  "lively", "loyal", "lucid", "mellow", "merry", "mindful", "modest", "nimble", "noble", "patient",
  "placid", "plucky", "polite", "prudent", "quiet", "radiant", "rapid", "serene", "sincere", "snappy",
  "spry", "steady", "sturdy", "sunny", "swift", "tender", "tidy", "tranquil", "upbeat", "valiant",
  "vivid", "warm", "witty", "zealous", "zesty",
];

// Scientists, mathematicians and engineers whose work the machine runs on. Our own list.
const SURNAMES: readonly string[] = [
  "abel", "agnesi", "alhazen", "ampere", "archimedes", "avogadro", "babbage", "backus", "bardeen", "bernoulli",
  "bessel", "bohr", "boltzmann", "boole", "bose", "brahe", "brattain", "cantor", "carnot", "cauchy",
  "cavendish", "celsius", "cerf", "chandrasekhar", "church", "clausius", "copernicus", "coulomb", "crick", "curie",
  "dalton", "darwin", "descartes", "dijkstra", "dirac", "doppler", "edison", "ehrenfest", "einstein", "euclid",
  "euler", "faraday", "fermat", "fermi", "feynman", "fibonacci", "fourier", "franklin", "fresnel", "galileo",
  "galois", "gauss", "germain", "gibbs", "godel", "goodall", "hamilton", "hawking", "heisenberg", "hertz",
  "hilbert", "hodgkin", "hooke", "hopper", "hubble", "huygens", "jacobi", "joule", "kelvin", "kepler",
  "knuth", "kovalevskaya", "lagrange", "lamarr", "laplace", "lavoisier", "leibniz", "lovelace", "maxwell", "mcclintock",
  "meitner", "mendel", "mendeleev", "michelson", "minsky", "napier", "newton", "noether", "ohm", "pascal",
  "pasteur", "pauli", "planck", "poincare", "ramanujan", "riemann", "ritchie", "rutherford", "sagan", "schrodinger",
  "shannon", "somerville", "tesla", "thompson", "torvalds", "turing", "volta", "watt", "wiener", "wu",
  "yukawa", "zuse",
];

export const NAME_WORDS = { adjectives: ADJECTIVES, surnames: SURNAMES } as const;

/**
 * A random "adjective_surname"; from the second try on a digit is
 * appended ("merry_noether3"), as Docker does to get out of collisions.
 */
export function randomName(retry = 0): string {
  const name = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
  return retry > 0 ? `${name}${randomInt(10)}` : name;
}

/**
 * A user-given name checked and in stored form ("/name"). The check is
 * on the name without its leading "/", with Docker's message.
 */
export function normalizeName(name: string): string {
  const bare = name.startsWith("/") ? name.slice(1) : name;
  if (!NAME_RE.test(bare)) {
    throw new InvalidArgumentError(`Invalid container name (${name}), only ${RESTRICTED_NAME_CHARS} are allowed`);
  }
  return `/${bare}`;
}

export function nameConflict(name: string, id: string): ConflictError {
  return new ConflictError(
    `Conflict. The container name "${name}" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
  );
}

/** name ("/x") → container ID, in memory; the container records are the truth on disk. */
export class NameRegistry {
  readonly #byName = new Map<string, string>();

  /** Reserves `name` for `id`; returns the stored form. Reserving a container's own name again is fine. */
  reserve(name: string, id: string): string {
    const full = normalizeName(name);
    const holder = this.#byName.get(full);
    if (holder !== undefined && holder !== id) throw nameConflict(full, holder);
    this.#byName.set(full, id);
    return full;
  }

  /** Frees a name (no error when it was free). */
  release(name: string): void {
    this.#byName.delete(name.startsWith("/") ? name : `/${name}`);
  }

  /** Frees every name of a container. */
  releaseId(id: string): void {
    for (const [name, holder] of this.#byName) if (holder === id) this.#byName.delete(name);
  }

  /** The ID holding `name` ("x" or "/x"). */
  get(name: string): string | undefined {
    return this.#byName.get(name.startsWith("/") ? name : `/${name}`);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * Moves `id` from `oldName` to `newName` (docker rename's checks and
   * messages). Returns the new stored name.
   */
  rename(oldName: string, newName: string, id: string): string {
    const oldTrim = oldName.trim();
    const newTrim = newName.trim();
    if (oldTrim.replace(/^\//, "") === "" || newTrim.replace(/^\//, "") === "") {
      throw new InvalidArgumentError("Neither old nor new names may be empty");
    }
    const oldFull = oldTrim.startsWith("/") ? oldTrim : `/${oldTrim}`;
    const newCanon = newTrim.startsWith("/") ? newTrim : `/${newTrim}`;
    if (oldFull === newCanon) throw new InvalidArgumentError("Renaming a container with the same name as its current name");
    let full: string;
    try {
      full = this.reserve(newTrim, id);
    } catch (err) {
      if (err instanceof ConflictError) throw new ConflictError(`Error when allocating new name: ${err.message}`, { cause: err });
      throw err;
    }
    if (this.#byName.get(oldFull) === id) this.#byName.delete(oldFull);
    return full;
  }

  /**
   * A generated name reserved for `id` (Docker's generateAndReserveName):
   * six tries, then the short ID.
   */
  reserveGenerated(id: string): string {
    for (let i = 0; i < 6; i++) {
      const full = `/${randomName(i)}`;
      if (!this.#byName.has(full)) {
        this.#byName.set(full, id);
        return full;
      }
    }
    const full = `/${id.slice(0, 12)}`;
    return this.reserve(full, id);
  }

  /** A generated name not in use (not reserved). */
  generateName(): string {
    for (let i = 0; ; i++) {
      const name = randomName(Math.min(i, 1));
      if (!this.#byName.has(`/${name}`)) return name;
      if (i > 1000) throw new ConflictError("could not generate a free container name");
    }
  }

  /** Every reserved name with its ID. */
  entries(): [string, string][] {
    return [...this.#byName.entries()];
  }
}
