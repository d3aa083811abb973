// Key files. A secret key file holds one signer key in signed-note text form
// ("PRIVATE+KEY+<name>+<hash>+<base64>"), written with mode 0600; a file that group or others
// may read is refused, as ssh refuses such a key. A public key file holds the verifier form.
#pragma once

#include <string>
#include <string_view>

#include "crypto/note.h"
#include "crypto/status.h"

namespace fundledger {

// Creates `path` (it must not exist) with mode 0600 and writes the signer key of `signer`.
Status WriteSecretKeyFile(const std::string& path, const NoteSigner& signer);
// InvalidArgument "key_file_permissions" if group or others have any access to the file.
Status ReadSecretKeyFile(const std::string& path, NoteSigner* out);

Status WritePublicKeyFile(const std::string& path, const NoteVerifier& verifier);
// Accepts a path to a public key file, or the verifier key text itself.
Status ReadPublicKey(const std::string& path_or_text, NoteVerifier* out);

}  // namespace fundledger
