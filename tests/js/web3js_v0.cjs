// @solana/web3.js (npm, 1.x) sends a v0 transaction that reads its recipients from an address
// lookup table on `corpactions localnet`: the table is created and extended with
// AddressLookupTableProgram, read back with getAddressLookupTable (getAccountInfo underneath),
// used one slot after its extension, and the landed transaction read with getTransaction
// (maxSupportedTransactionVersion 0). Prints one JSON line for the Python test to judge.
// Usage: node web3js_v0.cjs HTTP_URL
const {
  AddressLookupTableProgram,
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
  TransactionMessage,
  VersionedTransaction,
} = require("@solana/web3.js");

async function send(connection, payer, instructions) {
  const latest = await connection.getLatestBlockhash("confirmed");
  const tx = new Transaction({ feePayer: payer.publicKey, ...latest }).add(...instructions);
  tx.sign(payer);
  const signature = await connection.sendRawTransaction(tx.serialize());
  await connection.confirmTransaction({ signature, ...latest }, "confirmed");
  return signature;
}

async function main() {
  const [http] = process.argv.slice(2);
  const connection = new Connection(http, "confirmed");
  const payer = Keypair.generate();
  const latest = await connection.getLatestBlockhash("confirmed");
  const airdrop = await connection.requestAirdrop(payer.publicKey, 10 * LAMPORTS_PER_SOL);
  await connection.confirmTransaction({ signature: airdrop, ...latest }, "confirmed");

  const recipients = Array.from({ length: 30 }, () => Keypair.generate().publicKey);
  const recentSlot = await connection.getSlot("finalized");
  const [create, tableAddress] = AddressLookupTableProgram.createLookupTable({
    authority: payer.publicKey,
    payer: payer.publicKey,
    recentSlot,
  });
  await send(connection, payer, [create]);
  const extend = AddressLookupTableProgram.extendLookupTable({
    payer: payer.publicKey,
    authority: payer.publicKey,
    lookupTable: tableAddress,
    addresses: recipients,
  });
  const extendSignature = await send(connection, payer, [extend]);
  const extendStatus = (await connection.getSignatureStatus(extendSignature)).value;
  // usable one slot after the last extension
  while ((await connection.getSlot("confirmed")) <= extendStatus.slot) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const table = (await connection.getAddressLookupTable(tableAddress)).value;

  const blockhash = await connection.getLatestBlockhash("confirmed");
  const message = new TransactionMessage({
    payerKey: payer.publicKey,
    recentBlockhash: blockhash.blockhash,
    instructions: recipients.map((toPubkey) =>
      SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey, lamports: 1_000_000 }),
    ),
  }).compileToV0Message([table]);
  const tx = new VersionedTransaction(message);
  tx.sign([payer]);
  const size = tx.serialize().length;
  const simulated = await connection.simulateTransaction(tx, { sigVerify: true });
  const signature = await connection.sendTransaction(tx);
  const confirmed = await connection.confirmTransaction({ signature, ...blockhash }, "confirmed");
  const landed = await connection.getTransaction(signature, {
    commitment: "confirmed",
    maxSupportedTransactionVersion: 0,
  });
  const balances = await Promise.all(recipients.map((key) => connection.getBalance(key, "confirmed")));

  console.log(JSON.stringify({
    table: tableAddress.toBase58(),
    tableAddresses: table.state.addresses.map((key) => key.toBase58()),
    authority: table.state.authority.toBase58(),
    recipients: recipients.map((key) => key.toBase58()),
    size,
    simulatedErr: simulated.value.err,
    signature,
    err: confirmed.value.err,
    version: landed.version,
    lookups: landed.transaction.message.addressTableLookups.map((l) => ({
      accountKey: l.accountKey.toBase58(),
      writableIndexes: l.writableIndexes,
    })),
    loadedWritable: landed.meta.loadedAddresses.writable.map((key) => key.toBase58()),
    balances,
  }));
  process.exit(0);
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : JSON.stringify(error));
  process.exit(1);
});
