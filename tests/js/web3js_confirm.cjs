// @solana/web3.js (npm, 1.x) against `corpactions localnet`: an airdrop and a transfer confirmed
// with Connection.confirmTransaction at "finalized" (the chain's finality lag is long enough that
// the one status read web3.js makes on subscribing cannot see it: the websocket notification must
// settle it), onSignature and onAccountChange callbacks, and a transaction that fails in execution,
// whose confirmation carries its error. Prints one JSON line for the Python test to judge.
// Usage: node web3js_confirm.cjs HTTP_URL WS_URL
const {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
} = require("@solana/web3.js");

async function main() {
  const [http, ws] = process.argv.slice(2);
  const connection = new Connection(http, { commitment: "confirmed", wsEndpoint: ws });
  const payer = Keypair.generate();
  const recipient = Keypair.generate().publicKey;

  const accountSeen = new Promise((resolve) => {
    connection.onAccountChange(recipient, (info, context) => resolve({ lamports: info.lamports, slot: context.slot }), { commitment: "confirmed" });
  });

  let latest = await connection.getLatestBlockhash("finalized");
  const airdrop = await connection.requestAirdrop(payer.publicKey, LAMPORTS_PER_SOL);
  const statusAtSend = (await connection.getSignatureStatus(airdrop)).value;
  const airdropConfirmed = await connection.confirmTransaction({ signature: airdrop, ...latest }, "finalized");
  const airdropFinal = (await connection.getSignatureStatus(airdrop)).value;

  latest = await connection.getLatestBlockhash("confirmed");
  const transfer = new Transaction({ feePayer: payer.publicKey, ...latest }).add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: 2_000_000 }),
  );
  transfer.sign(payer);
  const signature = await connection.sendRawTransaction(transfer.serialize());
  const notified = new Promise((resolve) => {
    connection.onSignature(signature, (result, context) => resolve({ err: result.err, slot: context.slot }), "finalized");
  });
  const transferConfirmed = await connection.confirmTransaction({ signature, ...latest }, "finalized");
  const onSignature = await notified;
  const account = await accountSeen;

  latest = await connection.getLatestBlockhash("confirmed");
  const failing = new Transaction({ feePayer: payer.publicKey, ...latest }).add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: recipient, lamports: 100 * LAMPORTS_PER_SOL }),
  );
  failing.sign(payer);
  const failed = await connection.sendRawTransaction(failing.serialize(), { skipPreflight: true });
  // web3.js resolves with the error when the notification brings it, but rejects with it when its
  // status read on subscribing already sees the transaction: both are the chain's answer.
  let failedErr;
  try {
    failedErr = (await connection.confirmTransaction({ signature: failed, ...latest }, "confirmed")).value.err;
  } catch (error) {
    if (!error || error instanceof Error) throw error;
    failedErr = error;
  }

  console.log(JSON.stringify({
    airdrop,
    statusAtSend: statusAtSend && statusAtSend.confirmationStatus,
    airdropErr: airdropConfirmed.value.err,
    airdropFinal: airdropFinal && airdropFinal.confirmationStatus,
    signature,
    transferErr: transferConfirmed.value.err,
    transferSlot: transferConfirmed.context.slot,
    onSignature,
    account,
    failedErr,
  }));
  process.exit(0);
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : JSON.stringify(error));
  process.exit(1);
});
