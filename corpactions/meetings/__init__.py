"""Shareholder meetings: agenda, wallet-signed ballots weighted by the record-date snapshot,
tally, custodian instruction, attestation."""
