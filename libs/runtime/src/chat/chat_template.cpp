// Public chat-template API: renders model templates through the Jinja subset, and the
// built-in ChatML / Llama 2 / Llama 3 formats for models that carry no template.
#include "realizar/chat_template.h"

#include "chat/jinja.h"
#include "trueno/str_cat.h"

namespace realizar {
namespace {

// ChatML (Qwen, many fine-tunes): <|im_start|>role\ncontent<|im_end|>\n
constexpr std::string_view kChatML =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Llama 2 chat: the system prompt is folded into the first user turn inside <<SYS>>.
constexpr std::string_view kLlama2 =
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + content.strip() + ' ' + eos_token }}"
    "{% endif %}"
    "{% endfor %}";

// Llama 3 / 3.1 instruct.
constexpr std::string_view kLlama3 =
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";

}  // namespace

absl::StatusOr<std::string> RenderChat(std::string_view template_src,
                                       const std::vector<ChatMessage>& messages,
                                       bool add_generation_prompt, std::string_view bos,
                                       std::string_view eos) {
  using jinja::Value;
  try {
    auto tmpl = jinja::Parse(template_src);
    jinja::List list;
    for (const ChatMessage& m : messages) {
      Value d = Value::MakeDict();
      d.dict->Set("role", Value::Str(m.role));
      d.dict->Set("content", Value::Str(m.content));
      list.push_back(std::move(d));
    }
    std::vector<std::pair<std::string, Value>> globals = {
        {"messages", Value::MakeList(std::move(list))},
        {"add_generation_prompt", Value::Bool(add_generation_prompt)},
        {"bos_token", Value::Str(std::string(bos))},
        {"eos_token", Value::Str(std::string(eos))},
    };
    return jinja::Render(*tmpl, globals);
  } catch (const jinja::JinjaError& e) {
    return absl::InvalidArgumentError(trueno::Concat("chat template line ", e.line, ", column ",
                                                     e.col, ": ", e.message));
  } catch (const std::exception& e) {
    return absl::InternalError(trueno::Concat("chat template: ", e.what()));
  }
}

std::string_view BuiltinTemplate(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML: return kChatML;
    case ChatTemplateKind::kLlama2: return kLlama2;
    case ChatTemplateKind::kLlama3: return kLlama3;
  }
  return kChatML;
}

absl::StatusOr<std::string> RenderBuiltin(ChatTemplateKind kind,
                                          const std::vector<ChatMessage>& messages,
                                          bool add_generation_prompt, std::string_view bos,
                                          std::string_view eos) {
  return RenderChat(BuiltinTemplate(kind), messages, add_generation_prompt, bos, eos);
}

ChatTemplateKind DetectBuiltin(const aprender::Metadata& metadata) {
  bool has_im_start = false, has_header = false;
  if (const aprender::MetaValue* v = metadata.Find("tokenizer.ggml.tokens")) {
    if (const aprender::MetaArray* a = v->AsArray()) {
      for (const auto& item : a->items) {
        const std::string* s = item.AsString();
        if (s == nullptr) continue;
        has_im_start |= *s == "<|im_start|>";
        has_header |= *s == "<|start_header_id|>";
      }
    }
  }
  if (has_header) return ChatTemplateKind::kLlama3;
  if (has_im_start) return ChatTemplateKind::kChatML;
  const std::string arch = metadata.GetStringOr("general.architecture").value_or("");
  const std::string model = metadata.GetStringOr("tokenizer.ggml.model").value_or("");
  if (arch == "llama" && model == "llama") return ChatTemplateKind::kLlama2;
  return ChatTemplateKind::kChatML;
}

}  // namespace realizar
