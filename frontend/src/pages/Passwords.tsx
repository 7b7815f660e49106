import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { api, ApiError, errorMessage, unwrap } from "../api/client";

export const RESET_SENT = "If that email is registered, a reset link is on its way.";
export const PASSWORD_MIN = 8;

export function ForgotPassword() {
  const [email, setEmail] = useState("");
  const [state, setState] = useState<"idle" | "busy" | "sent">("idle");
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setState("busy");
    try {
      unwrap(await api.POST("/api/v1/auth/password-reset/", { body: { email: email.trim() } }));
      setState("sent");
    } catch (caught) {
      // A 400 for a malformed address is worth showing; anything else must not
      // reveal whether the address exists.
      if (caught instanceof ApiError && caught.status !== 400 && caught.status !== 429) setState("sent");
      else {
        setError(errorMessage(caught));
        setState("idle");
      }
    }
  }

  return (
    <main id="main" className="signin">
      <form className="card" onSubmit={(event) => void submit(event)}>
        <h1>Forgot password</h1>
        <p>Enter your email and we will send you a link to set a new password.</p>
        {state === "sent" && <p role="status">{RESET_SENT}</p>}
        {error !== null && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <label htmlFor="forgot-email">Email</label>
        <input
          id="forgot-email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
        />
        <button type="submit" disabled={state === "busy"}>
          Send reset link
        </button>
        <Link to="/">Back to sign in</Link>
      </form>
    </main>
  );
}

/** The first problem with a new password pair, or null. */
export function passwordProblem(password: string, confirm: string): string | null {
  if (password.length < PASSWORD_MIN) return `The password must have at least ${PASSWORD_MIN} characters.`;
  if (password !== confirm) return "The passwords do not match.";
  return null;
}

export function SetPassword() {
  const [params] = useSearchParams();
  const uid = params.get("uid") ?? "";
  const token = params.get("token") ?? "";
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [state, setState] = useState<"idle" | "busy" | "done">("idle");
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const problem = uid === "" || token === "" ? "This link is incomplete: ask for a new one." : passwordProblem(password, confirm);
    if (problem !== null) {
      setError(problem);
      return;
    }
    setError(null);
    setState("busy");
    try {
      unwrap(await api.POST("/api/v1/auth/password-reset/confirm/", { body: { uid, token, password } }));
      setState("done");
    } catch (caught) {
      setError(errorMessage(caught));
      setState("idle");
    }
  }

  return (
    <main id="main" className="signin">
      <form className="card" onSubmit={(event) => void submit(event)} noValidate>
        <h1>Set a new password</h1>
        {state === "done" ? (
          <>
            <p role="status">Your password is set. You can sign in now.</p>
            <Link to="/">Sign in</Link>
          </>
        ) : (
          <>
            {error !== null && (
              <p role="alert" className="error">
                {error}
              </p>
            )}
            <label htmlFor="new-password">New password</label>
            <input
              id="new-password"
              type="password"
              autoComplete="new-password"
              required
              minLength={PASSWORD_MIN}
              value={password}
              onChange={(event) => setPassword(event.target.value)}
            />
            <label htmlFor="confirm-password">Confirm password</label>
            <input
              id="confirm-password"
              type="password"
              autoComplete="new-password"
              required
              value={confirm}
              onChange={(event) => setConfirm(event.target.value)}
            />
            <button type="submit" disabled={state === "busy"}>
              Set password
            </button>
          </>
        )}
      </form>
    </main>
  );
}
