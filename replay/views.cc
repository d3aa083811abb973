#include "replay/views.h"

namespace fundledger {

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Open(dir, options, out));
  views->Attach(**out);
  return Status::Ok();
}

Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Create(dir, origin, log_key, options, out));
  views->Attach(**out);
  return Status::Ok();
}

}  // namespace fundledger
