// Form plumbing: fields with a slot for the API's message about them, and the mapping of a 400's
// details (`{field, message}`, e.g. "max_workers", "command.0", "body") onto those slots. What
// names no field of the form (and 403/409 messages) shows at the top of the form.

import { fill, h } from "./dom.js";

/** A labelled field; `control` is the input, its `name` the API field it edits. */
export function field(label, control, hint = null) {
  const name = control.getAttribute("name");
  control.id ||= `field-${name}`;
  control.setAttribute("aria-describedby", `error-${name}`);
  return h("div", { class: "field", "data-field": name },
    h("label", { for: control.id }, label),
    control,
    hint ? h("span", { class: "hint" }, hint) : null,
    h("span", { class: "field-error", id: `error-${name}`, role: "alert" }));
}

/** The form-level message box; put it first in the form. */
export const formErrors = () => h("div", { class: "error form-error", role: "alert", hidden: true });

export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) fill(slot);
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const top = form.querySelector(".form-error");
  fill(top);
  top.hidden = true;
}

/** Show an ApiError in `form`: each detail by the field it names, the rest at the top. */
export function showErrors(form, error) {
  clearErrors(form);
  const unplaced = [];
  for (const detail of error.details || []) {
    const name = String(detail.field).split(/[.[]/)[0];
    const slot = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (!slot) {
      unplaced.push(detail);
      continue;
    }
    slot.querySelector(".field-error").append(h("span", {}, detail.message));
    slot.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
  }
  const top = form.querySelector(".form-error");
  if (unplaced.length || !(error.details || []).length) {
    fill(top, unplaced.length
      ? unplaced.map((d) => h("div", {}, d.field === "body" ? d.message : `${d.field}: ${d.message}`))
      : error.message);
    top.hidden = false;
    // A rule between fields (min_workers > max_workers) names the fields only in its message.
    for (const d of unplaced) {
      for (const slot of form.querySelectorAll(".field[data-field]")) {
        if (d.message.includes(slot.dataset.field)) {
          slot.querySelector("input, select, textarea")?.setAttribute("aria-invalid", "true");
        }
      }
    }
  }
}

/** An integer/number input's value for the API: absent when empty. */
export function numberValue(input) {
  const raw = input.value.trim();
  return raw === "" ? undefined : Number(raw);
}

/** A form's submit handler that disables the button while `action` runs and shows its errors. */
export function onSubmit(form, action) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    clearErrors(form);
    try {
      await action();
    } catch (err) {
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
}
