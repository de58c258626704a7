// PLACEHOLDER: client registry (fxa-auth.md 5.1).
export class ClientRegistry {
  constructor(readonly extra: unknown[]) {}
}
