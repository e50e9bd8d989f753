// Chat prompts: the Jinja template a model carries (tokenizer.chat_template), rendered by a
// Jinja2 subset interpreter that covers common HF chat templates (Qwen2.5/Qwen3, Llama 2/3,
// ChatML, Mistral, Phi-3), plus built-in formats for models without a template.
//
// The interpreter behaves like HF transformers' environment: trim_blocks and lstrip_blocks
// on, `raise_exception(msg)` available, tojson as json.dumps(ensure_ascii=False).
// Unsupported syntax is an InvalidArgument error naming the line and column; rendering
// never crashes and is bounded (output size, loop iterations, nesting depth).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aprender/metadata.h"

namespace realizar {

struct ChatMessage {
  std::string role;
  std::string content;
};

// Renders `template_src` with the variables HF passes: messages (list of {role, content}),
// add_generation_prompt, bos_token, eos_token.
absl::StatusOr<std::string> RenderChat(std::string_view template_src,
                                       const std::vector<ChatMessage>& messages,
                                       bool add_generation_prompt, std::string_view bos,
                                       std::string_view eos);

enum class ChatTemplateKind { kChatML, kLlama2, kLlama3 };

// Jinja source of a built-in format (rendered through the same interpreter).
std::string_view BuiltinTemplate(ChatTemplateKind kind);

absl::StatusOr<std::string> RenderBuiltin(ChatTemplateKind kind,
                                          const std::vector<ChatMessage>& messages,
                                          bool add_generation_prompt, std::string_view bos,
                                          std::string_view eos);

// The built-in format that fits a model without tokenizer.chat_template: Llama 3 when the
// vocabulary has <|start_header_id|>, ChatML when it has <|im_start|>, Llama 2 for other
// llama-architecture SentencePiece models, ChatML otherwise.
ChatTemplateKind DetectBuiltin(const aprender::Metadata& metadata);

}  // namespace realizar
