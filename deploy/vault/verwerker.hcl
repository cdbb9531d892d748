# Vault policy "verwerker": what the verwerker service may do in Vault.
# Written by deploy/vault.sh bootstrap; assumes the Transit engine at "transit/".
#
# Tenant key-encryption keys are named "verwerker-<tenant id>-<random>".
# There is no "create" capability anywhere on the mount, on purpose: Vault
# treats an encrypt request for a key name that does not exist as "create"
# and would quietly make a new key (for example under the name of a tenant
# key verwerker shredded). Without "create" that request is refused. Keys are
# made by an explicit write to transit/keys/<name>, which Vault counts as
# "update"; transit/datakey never makes keys. The mount's config/keys also
# has disable_upsert=true (set by the bootstrap) as a second wall.
#
# No export, backup, restore, import or mount configuration: the key
# material never leaves Vault and verwerker cannot bring a deleted key back.

# Make (explicit write), read, rotate, configure (min_decryption_version,
# min_encryption_version, deletion_allowed), trim and delete tenant keys.
# Deletion needs deletion_allowed, which only verwerker's shred sets. A key
# can never be made exportable or backed up in plaintext with this token.
path "transit/keys/verwerker-*" {
  capabilities = ["read", "update", "delete"]
  denied_parameters = {
    "exportable"             = []
    "allow_plaintext_backup" = []
  }
}

# Data keys for new subjects (plaintext and wrapped; only the wrapped form is stored).
path "transit/datakey/plaintext/verwerker-*" {
  capabilities = ["update"]
}

# Unwrap data keys (batch) and rewrap them under the latest version (batch).
path "transit/decrypt/verwerker-*" {
  capabilities = ["update"]
}
path "transit/rewrap/verwerker-*" {
  capabilities = ["update"]
}

# Encrypt small secrets under an existing tenant key. "update" only: for a
# key name that does not exist Vault needs "create", which is not granted.
path "transit/encrypt/verwerker-*" {
  capabilities = ["update"]
}
