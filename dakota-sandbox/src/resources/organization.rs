//! The organization a sandbox serves: its id (`client_id` on wallets, policies, signer groups,
//! users) and the id of its owner (who issued the API keys made through the API). Both are
//! derived from the sandbox's public webhook key, so they stay the same for a sandbox started
//! with the same `webhook_signing_seed` and never reveal a secret.

use sha2::{Digest, Sha256};
use svix_ksuid::Ksuid;

use crate::state::SandboxState;

/// Creation time of the derived ids (and of the organization): 2025-01-01T00:00:00Z.
pub(crate) const DERIVED_ID_UNIX: i64 = 1_735_689_600;
/// The same, as a KSUID timestamp (seconds since the KSUID epoch).
const DERIVED_ID_TIME: u32 = 1_735_689_600 - 1_400_000_000;

/// A KSUID derived from the sandbox's public webhook key and `purpose`.
pub(crate) fn derived_id(state: &SandboxState, purpose: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"dakota-sandbox/");
    h.update(purpose.as_bytes());
    h.update(b"/");
    h.update(state.webhook_public_key().as_bytes());
    let digest = h.finalize();
    let mut payload = [0u8; 16];
    payload.copy_from_slice(&digest[..16]);
    Ksuid::new_raw(DERIVED_ID_TIME, Some(&payload)).to_string()
}

/// The organization's id (`client_id`).
pub(crate) fn client_id(state: &SandboxState) -> String {
    derived_id(state, "organization")
}

/// The id of the organization's owner: the user behind the configured API key and the keys
/// issued through `POST /api-keys`.
pub(crate) fn owner_user_id(state: &SandboxState) -> String {
    derived_id(state, "owner")
}

/// The organization's display name.
pub(crate) const NAME: &str = "Dakota Sandbox Organization";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;

    #[test]
    fn ids_are_stable_per_key_and_distinct() {
        let cfg = SandboxConfig {
            webhook_signer: crate::WebhookSigner::from_seed([1; 32]),
            ..SandboxConfig::default()
        };
        let a = SandboxState::new(cfg.clone(), "http://x").expect("state");
        let b = SandboxState::new(cfg, "http://y").expect("state");
        assert_eq!(client_id(&a), client_id(&b));
        assert_ne!(client_id(&a), owner_user_id(&a));
        assert!(crate::ids::is_ksuid(&client_id(&a)));
        let c = SandboxState::new(SandboxConfig::default(), "http://x").expect("state");
        assert_ne!(client_id(&a), client_id(&c));
    }
}
