/**
 * hako login / hako logout: docker/cli cli/command/registry/login.go and
 * logout.go. The daemon checks the credentials (POST /auth); they are then
 * stored where the docker CLI keeps them ($DOCKER_CONFIG/config.json, or
 * --config), so either CLI can use them.
 */
import { convertToHostname, type CredentialStore } from "../../../image/registry/credentials.ts";
import { ApiError } from "../../client.ts";
import { INDEX_SERVER } from "../../auth.ts";
import type { FlagValues } from "../../flags.ts";
import type { CliCommand, CliContext } from "../command.ts";
import { readLine, readStdin, storeFor } from "../image/common.ts";

interface AuthResponse {
  Status: string;
  IdentityToken?: string;
}

interface Credentials {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * Stores the credentials (docker's file store: nothing is written, and no
 * warning printed, when they are already there).
 */
function storeCredentials(ctx: CliContext, store: CredentialStore, key: string, username: string, password: string): void {
  const existing = store.get(key);
  if (existing && "password" in existing && existing.username === username && existing.password === password) return;
  try {
    store.login(key, username, password);
  } catch (err) {
    throw new Error(`Error saving credentials: ${(err as Error).message}`);
  }
  ctx.err(`\nWARNING! Your credentials are stored unencrypted in '${store.file}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`);
}

/** verifyLoginFlags: conflicting or empty flags. */
function verifyFlags(flags: FlagValues): void {
  const user = flags.username as string | undefined;
  const password = flags.password as string | undefined;
  if (flags["password-stdin"]) {
    if (password !== undefined) throw new Error("conflicting options: cannot specify both --password and --password-stdin");
    if (user === undefined) throw new Error("the --password-stdin option requires --username to be set");
  }
  if (user !== undefined && user === "") throw new Error("username is empty");
  if (password !== undefined && password === "") throw new Error("password is empty");
}

/** A prompt on stdout, the answer read from stdin; with `hidden`, typed characters are not echoed. */
async function prompt(ctx: CliContext, message: string, hidden = false): Promise<string> {
  ctx.out(message);
  const stdin = process.stdin;
  if (!hidden || !stdin.isTTY) return (await readLine()).trim();
  return new Promise((resolve, reject) => {
    let text = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (err?: Error): void => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      if (err) reject(err);
      else resolve(text.trim());
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new Error("interrupted"));
        if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** PromptUserForCredentials (no prompt when both are given). */
async function promptForCredentials(ctx: CliContext, user: string, password: string, defaultUser: string, serverAddress: string): Promise<Credentials> {
  let username = user.trim();
  if (username === "") {
    if (serverAddress === INDEX_SERVER) {
      ctx.out("Log in with your Docker ID or email address to push and pull images from Docker Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.\n");
    }
    const def = defaultUser.trim();
    username = await prompt(ctx, def ? `Username (${def}): ` : "Username: ");
    if (username === "") username = def;
    if (username === "") throw new Error("Error: Non-null Username Required");
  }
  let pass = password.trim();
  if (pass === "") {
    pass = await prompt(ctx, "Password: ", true);
    ctx.out("\n");
    if (pass === "") throw new Error("Error: Password Required");
  }
  return { username, password: pass, serveraddress: serverAddress };
}

export const login: CliCommand = {
  name: "login",
  usage: "[OPTIONS] [SERVER]",
  summary: "Authenticate to a registry",
  args: [0, 1],
  flags: [
    { name: "password", short: "p", type: "string", value: "string", help: "Password or Personal Access Token (PAT)" },
    { name: "password-stdin", type: "bool", help: "Take the Password or Personal Access Token (PAT) from stdin" },
    { name: "username", short: "u", type: "string", value: "string", help: "Username" },
  ],
  async run(ctx, flags, args) {
    verifyFlags(flags);
    const user = (flags.username as string | undefined) ?? "";
    let password = (flags.password as string | undefined) ?? "";
    if (password !== "") ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
    if (flags["password-stdin"]) {
      if (user === "") throw new Error("username is empty");
      password = (await readStdin()).toString("utf8").replace(/\n$/, "").replace(/\r$/, "");
    }
    const given = args[0] ?? "";
    const serverAddress = given !== "" && given !== "docker.io" ? given : INDEX_SERVER;
    const isDefault = serverAddress === INDEX_SERVER;
    const key = isDefault ? serverAddress : convertToHostname(serverAddress);
    const store = storeFor(ctx);
    const client = ctx.client();

    // Stored credentials are tried first when none were given.
    const stored = user === "" && password === "" ? store.get(key) : undefined;
    const storedUser = stored && "username" in stored ? (stored.username ?? "") : "";
    const storedPassword = stored && "password" in stored ? stored.password : "";
    if (storedUser !== "" && storedPassword !== "") {
      ctx.err(`Authenticating with existing credentials... [Username: ${storedUser}]\n`);
      ctx.err("\n Info -> To login with a different account, run 'hako logout' followed by 'hako login'\n\n\n");
      try {
        const res = await client.json<AuthResponse>("POST", "/auth", { body: { username: storedUser, password: storedPassword, serveraddress: key } });
        storeCredentials(ctx, store, key, storedUser, storedPassword);
        ctx.out(`${res.Status}\n`);
        return 0;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) ctx.err("Stored credentials invalid or expired\n");
        else ctx.err(`Login did not succeed, error: Error response from daemon: ${err.message}\n`);
      }
    }

    if ((user === "" || password === "") && !process.stdin.isTTY) throw new Error("Error: Cannot perform an interactive login from a non TTY device");
    const creds = await promptForCredentials(ctx, user, password, storedUser, key);
    const res = await client.json<AuthResponse>("POST", "/auth", { body: creds });
    storeCredentials(ctx, store, key, creds.username, creds.password);
    ctx.out(`${res.Status}\n`);
    return 0;
  },
};

export const logout: CliCommand = {
  name: "logout",
  usage: "[SERVER]",
  summary: "Log out from a registry",
  args: [0, 1],
  run(ctx, _flags, args) {
    const given = args[0] ?? "";
    const isDefault = given === "";
    const server = isDefault ? INDEX_SERVER : given;
    const hostname = isDefault ? server : convertToHostname(server);
    ctx.out(`Removing login credentials for ${hostname}\n`);
    try {
      storeFor(ctx).logout(hostname);
    } catch (err) {
      ctx.err(`WARNING: could not erase credentials:\n${hostname}: ${(err as Error).message}\n`);
    }
    return 0;
  },
};
