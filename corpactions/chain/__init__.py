"""Everything that talks to or describes Solana: RPC access, account layouts, instructions."""
