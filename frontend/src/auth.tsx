import { useQueryClient } from "@tanstack/react-query";
import { createContext, use, useCallback, useEffect, useMemo, useState, type ReactNode } from "react";

import { api, ApiError, unwrap } from "./api/client";
import { CLIENT_HEADER, CLIENT_NAME, onSignedOut, readAccess, setAccess, takeRestoredSession } from "./api/session";
import type { Me } from "./api/types";

type AuthState =
  | { status: "loading" }
  | { status: "anonymous"; notice?: string }
  | { status: "signed-in"; me: Me };

interface AuthApi {
  state: AuthState;
  signIn: (email: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
  /** The signed-in user as the server now has it (after a change to their profile). */
  updateMe: (me: Me) => void;
}

const AuthContext = createContext<AuthApi | null>(null);

export function isManager(me: Me): boolean {
  return me.role === "manager" || me.role === "admin";
}

/** Empties every client cache: TanStack Query's and the service worker's. */
export async function clearCaches(queryClient: { clear: () => void }): Promise<void> {
  queryClient.clear();
  if (typeof caches !== "undefined") {
    const names = await caches.keys();
    await Promise.all(names.map((name) => caches.delete(name)));
  }
}

async function fetchMe(): Promise<Me> {
  return unwrap(await api.GET("/api/v1/auth/me/"));
}

export class SignInError extends Error {}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [state, setState] = useState<AuthState>({ status: "loading" });

  // A reload restores the session from the refresh cookie. Offline, the
  // service worker may still answer `me` from its cache: the app then shows
  // the last-seen list, read-only.
  useEffect(() => {
    let live = true;
    (async () => {
      let next: AuthState;
      try {
        const token = await takeRestoredSession();
        next = token === null ? { status: "anonymous" } : { status: "signed-in", me: await fetchMe() };
      } catch {
        try {
          next = { status: "signed-in", me: await fetchMe() };
        } catch {
          next = { status: "anonymous" };
        }
      }
      if (live) setState(next);
    })();
    return () => {
      live = false;
    };
  }, []);

  useEffect(
    () =>
      onSignedOut(() => {
        void clearCaches(queryClient);
        setState({ status: "anonymous", notice: "Your session has ended. Sign in again." });
      }),
    [queryClient],
  );

  const signIn = useCallback(async (email: string, password: string) => {
    const result = await api.POST("/api/v1/auth/token/", {
      body: { email, password },
      headers: { [CLIENT_HEADER]: CLIENT_NAME },
      credentials: "same-origin",
    });
    if (!result.response.ok) {
      const status = result.response.status;
      if (status === 400 || status === 401) throw new SignInError("Email or password is incorrect.");
      throw new ApiError(status, result.error);
    }
    const token = readAccess(result.data);
    if (token === null) throw new SignInError("Email or password is incorrect.");
    setAccess(token);
    const me = await fetchMe();
    setState({ status: "signed-in", me });
  }, []);

  const signOut = useCallback(async () => {
    try {
      // The body type is the JSON-refresh form; the web client sends the cookie instead.
      await fetch(new URL("/api/v1/auth/logout/", window.location.origin), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_NAME },
        body: "{}",
      });
    } catch {
      // Offline: the cookie is revoked at its next use or expiry; local state goes anyway.
    }
    setAccess(null);
    await clearCaches(queryClient);
    setState({ status: "anonymous" });
  }, [queryClient]);

  const updateMe = useCallback((me: Me) => {
    setState((current) => (current.status === "signed-in" ? { status: "signed-in", me } : current));
  }, []);

  const value = useMemo(() => ({ state, signIn, signOut, updateMe }), [state, signIn, signOut, updateMe]);
  return <AuthContext value={value}>{children}</AuthContext>;
}

export function useAuth(): AuthApi {
  const value = use(AuthContext);
  if (value === null) throw new Error("useAuth outside AuthProvider");
  return value;
}

/** The signed-in user (only under a route that requires one). */
export function useMe(): Me {
  const { state } = useAuth();
  if (state.status !== "signed-in") throw new Error("useMe without a session");
  return state.me;
}
