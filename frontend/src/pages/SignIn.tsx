import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";

import { errorMessage } from "../api/client";
import { SignInError, useAuth } from "../auth";

export function SignIn({ notice }: { notice?: string | undefined }) {
  const { signIn } = useAuth();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await signIn(email.trim(), password);
      navigate("/", { replace: true });
    } catch (caught) {
      setError(caught instanceof SignInError ? caught.message : errorMessage(caught));
      setBusy(false);
    }
  }

  return (
    <main id="main" className="signin">
      <form className="card" onSubmit={(event) => void submit(event)} noValidate={false}>
        <p className="brand">Leadline</p>
        <h1>Sign in</h1>
        {notice !== undefined && error === null && <p role="status">{notice}</p>}
        {error !== null && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <label htmlFor="signin-email">Email</label>
        <input
          id="signin-email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
        />
        <label htmlFor="signin-password">Password</label>
        <input
          id="signin-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => setPassword(event.target.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <Link to="/forgot-password">Forgot password</Link>
      </form>
    </main>
  );
}
