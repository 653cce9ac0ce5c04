#!/usr/bin/env python3
"""Generate examples/sample-log.jsonl (+ batch-input/-output.jsonl) for `frugal analyze`.

Deterministic (fixed seed, fixed clock).  A morning of a small SaaS company's LLM traffic:
  - a support bot on claude-sonnet-4-5 with a ~3,000-token system prompt sent on every
    call without cache_control (multi-turn conversations: the prefix grows too);
  - ticket classification on gpt-4o that asks for "JSON only" and gets prose and code
    fences around the JSON (half of it a backfill job marked deferrable);
  - a few long incident-analysis calls on o3 with reasoning tokens.
Token counts follow the text: about 4 characters per token, plus a few per message.

usage: scripts/gen-sample-log.py [OUTDIR]     (default: examples/)
"""
import json
import math
import os
import random
import sys
from datetime import datetime, timedelta, timezone

rng = random.Random(20261126)
T0 = datetime(2026, 11, 26, 9, 0, 0, tzinfo=timezone.utc)


def toks(text):
    return math.ceil(len(text) / 4)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def hexid(n=24):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


# ---- the support bot's system prompt (~3,000 tokens) ---------------------------------

PLANS = [
    ("Starter", "$19", "2 vCPU, 4 GB RAM, 50 GB SSD, 1 TB transfer, community support"),
    ("Team", "$79", "8 vCPU, 16 GB RAM, 200 GB SSD, 5 TB transfer, email support within one business day"),
    ("Business", "$249", "32 vCPU, 64 GB RAM, 1 TB SSD, 20 TB transfer, 4-hour response, SSO"),
    ("Enterprise", "custom", "dedicated hosts, 99.99% SLA, 1-hour response, named technical account manager"),
]
REGIONS = ["us-east-1 (Virginia)", "us-west-2 (Oregon)", "eu-central-1 (Frankfurt)",
           "eu-west-1 (Dublin)", "ap-southeast-1 (Singapore)", "ap-northeast-1 (Tokyo)"]
ERRORS = [
    ("E1001", "payment method declined", "ask the customer to update the card under Billing > Payment methods; the invoice is retried automatically within 24 hours"),
    ("E1002", "invoice overdue", "services stay up for 14 days after the due date; after that compute instances are stopped, never deleted, for another 30 days"),
    ("E2001", "quota exceeded", "quotas are per region; the customer can request an increase under Limits, approved automatically up to twice the plan default"),
    ("E2002", "instance type unavailable", "suggest a neighbouring availability zone or the next larger instance type; capacity usually returns within hours"),
    ("E3001", "two-factor code rejected", "check the device clock; after five failures the account is locked for 15 minutes"),
    ("E3002", "SSO assertion invalid", "the identity provider's certificate probably rotated; an organisation owner must upload the new one under Security > SSO"),
    ("E4001", "snapshot failed", "usually a volume busy with heavy writes; retry after the write burst; snapshots are crash-consistent, not application-consistent"),
    ("E4002", "restore stuck", "restores of volumes over 500 GB take up to two hours; never cancel a restore that is past 50%"),
    ("E5001", "DNS propagation pending", "records on Acme DNS propagate within 60 seconds; delays are almost always the registrar's name servers still pointing elsewhere"),
    ("E5002", "TLS certificate pending", "automatic certificates need the domain's A or CNAME record to point at the load balancer first"),
]
SECTIONS = [
    ("Who you are", "You are Aria, the customer support assistant of Acme Cloud, a cloud hosting provider "
     "for small and medium businesses. You answer questions from customers in the support chat of the Acme "
     "console. You are friendly, precise and brief. You never invent features, prices or policies: when the "
     "answer is not in these instructions, say so and offer to open a ticket with a human engineer."),
    ("Tone", "Write in plain language. Use the customer's name when you know it. Prefer short paragraphs and "
     "numbered steps for procedures. Do not use marketing language. Apologise once when something went "
     "wrong on our side, not repeatedly. Never blame the customer. Do not use emoji."),
    ("Security rules", "Never ask for or repeat passwords, full card numbers, API keys or recovery codes. If a "
     "customer pastes a secret, tell them to rotate it immediately under Security > API keys and do not quote "
     "it back. You cannot see or change account data yourself; you explain where the customer can do it. "
     "Identity checks for account recovery are done by humans only: open a ticket of type account_recovery."),
    ("Refund policy", "Acme Cloud bills monthly in arrears by the second. Unused credit is not refunded in cash "
     "except when a customer closes the account within 30 days of the first invoice. Outages that break the "
     "SLA are compensated with service credit: 10% of the monthly bill of the affected service for each full "
     "hour below the SLA, up to 100%. Credits are applied to the next invoice automatically within 5 business "
     "days after the incident report is published. Disputed charges go to the billing team: open a ticket of "
     "type billing_dispute and tell the customer the team answers within two business days."),
    ("Outages", "During an incident, check the status page summary that the console shows at the top of the "
     "chat. Give the customer the incident number, the affected regions and services, and the time of the "
     "last update. Never promise a resolution time that the status page does not give. If the customer's "
     "problem is not covered by an open incident, collect the region, the resource IDs and the time the "
     "problem started (with time zone) and open a ticket of type incident_report."),
    ("Escalation", "Open a ticket for a human engineer when: the customer asks for one; data loss is "
     "possible; the question is about a legal matter, a security vulnerability or law-enforcement request; "
     "the customer is on the Enterprise plan and reports production impact (page the on-call TAM as well); "
     "or you could not solve the problem in three answers. Tell the customer the ticket number and the "
     "response time of their plan."),
    ("Data retention", "Deleted instances are kept for 7 days and can be restored from the trash. Deleted "
     "volumes and snapshots are kept for 7 days as well. Backups follow the customer's retention setting, "
     "7 to 365 days. Logs are kept 30 days on Starter and Team, 90 days on Business and 1 year on "
     "Enterprise. After account closure all data is deleted after 30 days and cannot be recovered."),
]
FAQ = [
    ("How do I resize an instance?", "Stop it, choose Resize in the instance menu, pick the new type and "
     "start it again. Disks can grow but never shrink. Resizing keeps the IP addresses."),
    ("Can I move an instance to another region?", "Not directly: take a snapshot, copy it to the target "
     "region under Snapshots > Copy, and create a new instance from it. Public IPs cannot move between regions."),
    ("How do I add a team member?", "Organisation owners invite members under Settings > Members. Roles are "
     "Owner, Admin, Developer, Billing and Read-only. Invitations expire after 7 days."),
    ("Where do I find invoices?", "Under Billing > Invoices, as PDF and CSV. The billing contact receives each "
     "invoice by email on the first business day of the month."),
    ("How do I change the billing currency?", "The currency is fixed per account at sign-up (USD, EUR or GBP). "
     "Changing it requires a new account; the billing team can migrate resources for Business and Enterprise."),
    ("What happens when I exceed transfer?", "Extra outbound transfer costs $0.01 per GB in US and EU regions "
     "and $0.02 per GB in Asia-Pacific regions. Inbound transfer is free."),
    ("Do you support IPv6?", "Yes, every instance gets a /64 in all regions. Enable it under Networking on the "
     "instance page; the firewall rules apply to IPv4 and IPv6 separately."),
    ("How do backups work?", "Daily backups run in a window the customer chooses, are incremental after the "
     "first one, and cost 20% of the instance price. Restores create a new volume; the old one is kept."),
    ("Can I get a dedicated IP for email?", "Outbound port 25 is blocked on new accounts to fight spam. "
     "Customers with 60 days of paid history can request unblocking with a ticket of type network_request."),
    ("Is there an API?", "Yes: a REST API and official CLI and Terraform provider. API keys are created under "
     "Security > API keys with per-key scopes and expiry. Rate limit: 1,200 requests per minute per key."),
    ("Can I run Kubernetes?", "Yes, Acme Kubernetes Engine runs managed control planes for free on Team and "
     "above; worker nodes are billed as normal instances. Supported versions are the three latest minor "
     "releases; clusters are upgraded automatically 30 days after a version leaves support."),
    ("Do you offer managed databases?", "PostgreSQL 15 to 17 and MySQL 8 with daily backups, point-in-time "
     "recovery for 7 days and optional standby replicas in another zone. Major version upgrades are started "
     "by the customer; minor versions are patched in the maintenance window."),
    ("How do I set a maintenance window?", "Under Settings > Maintenance, pick a weekly two-hour slot in the "
     "organisation's time zone. Emergency security patches can happen outside it with 24 hours' notice."),
    ("What is object storage pricing?", "$5 per month per 250 GB stored, including 1 TB of outbound transfer; "
     "more storage is $0.02 per GB. Requests are free. Buckets are S3-compatible in every region."),
    ("How do firewalls work?", "Cloud firewalls are stateful, deny inbound by default, and attach to instances "
     "by tag. Up to 50 rules per firewall. Changes apply within 30 seconds without a restart."),
    ("Can I bring my own IP range?", "Enterprise customers can announce their own /24 or larger through BYOIP "
     "after a letter of authorisation; setup takes about two weeks. Open a ticket of type network_request."),
    ("How do private networks work?", "Every region has a free private network per project; instances in the "
     "same project and region reach each other on 10.x addresses without transfer charges."),
    ("What about compliance?", "Acme Cloud is SOC 2 Type II and ISO 27001 certified; reports are available "
     "under Settings > Compliance after accepting the NDA. A data processing agreement is signed at sign-up."),
    ("Can I pay by invoice?", "Business and Enterprise customers with annual commitments can pay by bank "
     "transfer with 30-day terms; everybody else pays by card or SEPA direct debit."),
    ("Do you have GPU instances?", "Yes, in us-east-1, eu-central-1 and ap-northeast-1 only, on Business and "
     "Enterprise. They are billed by the second like other instances, with a 10-minute minimum per start, "
     "and need a limit_increase ticket before the first use."),
    ("Can I schedule instances to stop at night?", "Yes, under Automation > Schedules. Stopped instances cost "
     "only their disks; public IPs stay reserved for free while the instance exists."),
    ("How do I delete my account?", "An organisation owner chooses Settings > Close account after deleting all "
     "resources. The final invoice is charged immediately; data is deleted after 30 days."),
]
TICKET_TYPES = [
    ("billing_dispute", "charges the customer disputes; attach the invoice number and the disputed line"),
    ("account_recovery", "lost 2FA device, lost access to the owner email, ownership transfer; humans verify identity"),
    ("incident_report", "a problem not covered by an open incident; attach region, resource IDs, start time with time zone"),
    ("network_request", "port 25 unblocking, BYOIP, reverse DNS for more than 10 addresses, custom peering"),
    ("limit_increase", "quota increases above twice the plan default; state the region, resource type and the expected peak"),
    ("data_request", "exports of account data, deletion confirmations, law-enforcement requests (legal team only)"),
    ("feature_request", "product feedback; thank the customer and never promise a date"),
    ("security_report", "a suspected vulnerability; ask for no details in chat and route to security@ with high priority"),
]
KNOWN_ISSUES = [
    "Graphs on the instance page can lag up to five minutes behind; the API metrics are current.",
    "Invoices generated before March 2026 show transfer in GiB while newer ones show GB.",
    "In ap-southeast-1, snapshot copies to other regions are slower than elsewhere (up to 6 hours).",
    "The CLI older than 3.2 cannot create ARM-based volumes; tell customers to upgrade with `acme update`.",
    "Safari 17 sometimes logs users out after changing their 2FA device; a reload fixes it.",
]


def system_prompt():
    parts = ["# Acme Cloud support assistant: instructions\n"]
    for title, text in SECTIONS:
        parts.append(f"## {title}\n{text}\n")
    parts.append("## Plans\n" + "\n".join(f"- {n} ({p}/month): {f}." for n, p, f in PLANS) + "\n"
                 "Upgrades apply immediately and are prorated by the second; downgrades apply at the "
                 "end of the billing month.\n")
    parts.append("## Regions\n" + ", ".join(REGIONS) + ". All plans are available in every region; "
                 "prices are the same everywhere except transfer.\n")
    parts.append("## Error codes shown in the console\n" +
                 "\n".join(f"- {c} {w}: {a}." for c, w, a in ERRORS) + "\n")
    parts.append("## Frequent questions\n" + "\n".join(f"Q: {q}\nA: {a}" for q, a in FAQ) + "\n")
    parts.append("## Ticket types (use exactly these names when you open a ticket)\n" +
                 "\n".join(f"- {n}: {d}." for n, d in TICKET_TYPES) + "\n"
                 "When you open a ticket, summarise the conversation in three sentences for the engineer, "
                 "include every identifier the customer gave (resource IDs, invoice numbers, error codes, "
                 "times with time zone), and state what you already tried. Never open two tickets for the "
                 "same problem in one conversation; add to the existing one instead.\n")
    parts.append("## Known issues (mention only when relevant)\n" + "\n".join(f"- {k}" for k in KNOWN_ISSUES) + "\n")
    parts.append("## Answer format\nStart with the direct answer in one or two sentences. Then give the "
                 "steps, if any. End with one line offering further help only when the problem is not "
                 "solved. Keep answers under 200 words unless the customer asks for detail.\n")
    return "\n".join(parts)


SYSTEM = system_prompt()

QUESTIONS = [
    "Hi, my card was declined and now I see error E1001 on the billing page. What should I do?",
    "How long do you keep deleted instances? I removed one by mistake an hour ago.",
    "Can I move my instance from eu-west-1 to eu-central-1 without changing anything?",
    "We got charged twice this month, can you refund one of the charges?",
    "Is there an outage in us-east-1? Our API servers are timing out since 08:40 UTC.",
    "How do I add my colleague so she can see invoices but not touch servers?",
    "What does E2001 quota exceeded mean? I only have 6 instances.",
    "Our SSO login stopped working this morning with SSO assertion invalid.",
    "How much does extra outbound transfer cost in Singapore?",
    "Can I get port 25 opened? We send invoices to our customers by email.",
    "A restore of my 800 GB volume has been running for 90 minutes, is that normal?",
    "Do you have a Terraform provider?",
    "How do I enable IPv6 on my instance?",
    "What is the difference between Team and Business?",
    "My 2FA codes keep getting rejected and now I am locked out.",
    "Where do I download last month's invoice as CSV?",
    "Can I shrink the disk of my instance from 200 GB to 100 GB?",
    "We want to switch our billing currency from USD to EUR.",
    "Snapshot failed with E4001 on our database volume, what now?",
    "How do backups work and what do they cost?",
    "I pasted my API key in the chat by mistake: sk-live-... sorry!",
    "Do you compensate for the outage last Tuesday? We were down 3 hours.",
    "How long are logs retained on the Team plan?",
    "TLS certificate for our domain has been pending for an hour.",
    "We're on Enterprise and production is down in ap-northeast-1, please escalate.",
    "Can I downgrade from Business to Team in the middle of the month?",
    "What is the API rate limit?",
    "DNS change isn't visible after 20 minutes, E5001 pending.",
    "Instance type unavailable (E2002) when I try to start my stopped server.",
    "If we close our account, how fast is the data deleted?",
]
FOLLOW_UPS = [
    "Thanks. And will that affect my running servers?",
    "OK, can you open a ticket for that please?",
    "Got it. How long does that usually take?",
    "Does the same apply to the other regions?",
    "Perfect, that worked. One more thing: where do I see the status page?",
    "Hmm, I did that already and it still fails.",
]
REPLY_BITS = [
    "Thanks for reaching out. ",
    "Here is what to do:\n1. Open the page mentioned below in the console.\n2. Check the setting and save it.\n3. Retry the operation; it usually succeeds within a few minutes.\n",
    "This is covered by our standard policy: nothing is lost, and no action is needed from you beyond the steps above. ",
    "If the problem continues after that, I can open a ticket with an engineer, who will answer within your plan's response time. ",
    "For reference, the relevant section of the documentation is under Help > Guides in the console. ",
    "Your services keep running while this is sorted out. ",
    "Please do not share passwords or keys in this chat. ",
]


def support_reply():
    n = rng.randint(2, 5)
    text = "".join(rng.sample(REPLY_BITS, n))
    return text.strip()


def anthropic_line(t, messages, reply, tags):
    req = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": SYSTEM, "messages": messages}
    in_tok = toks(SYSTEM) + 3 + sum(toks(m["content"]) + 4 for m in messages)
    resp = {
        "id": "msg_01" + hexid(22), "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": in_tok, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": toks(reply) + 2, "service_tier": "standard"},
    }
    return {"time": rfc3339(t), "provider": "anthropic", "tags": tags, "request": req, "response": resp}


def support_events():
    events, t = [], T0 + timedelta(seconds=7)
    for conv in range(34):
        q = QUESTIONS[conv % len(QUESTIONS)]
        turns = rng.choice([1, 1, 2, 2, 2, 3])
        ct, messages = t, [{"role": "user", "content": q}]
        for turn in range(turns):
            reply = support_reply()
            events.append((ct, anthropic_line(ct, list(messages), reply,
                                              {"app": "support-bot", "conversation": f"c{conv:03d}"})))
            messages += [{"role": "assistant", "content": reply},
                         {"role": "user", "content": rng.choice(FOLLOW_UPS)}]
            ct += timedelta(seconds=rng.randint(40, 150))
        t += timedelta(seconds=rng.randint(60, 200))
        if conv == 17:
            t += timedelta(minutes=16)   # a quiet spell: the 5-minute cache would expire
    return events


# ---- ticket classification on gpt-4o ----------------------------------------------------

CLASSIFIER = ("You are the ticket triage classifier of Acme Cloud support. Categories: billing, outage, "
              "account_access, feature_request, bug_report, other.")
TICKETS = [
    ("I was charged $79 twice on my card this month.", "billing"),
    ("Our servers in us-east-1 are unreachable since 9am.", "outage"),
    ("I can't log in, my two-factor codes are rejected.", "account_access"),
    ("Please add a region in South America, we have customers in Brazil.", "feature_request"),
    ("The console shows the wrong CPU graph for my instance, values look doubled.", "bug_report"),
    ("What is your office address for our vendor form?", "other"),
    ("Invoice 2026-10 lists transfer we did not use.", "billing"),
    ("Load balancer returns 502 for all requests in Frankfurt.", "outage"),
    ("Password reset email never arrives.", "account_access"),
    ("Could you support ARM instances?", "feature_request"),
]
PROSE = [
    ("Sure! Here is the classification for this ticket:\n\n```json\n{j}\n```\n\n"
     "The customer describes an issue that clearly falls into this category, so it should be routed to "
     "the corresponding team."),
    ("Based on the content of the ticket, I would classify it as follows:\n\n{j}\n\n"
     "Let me know if you would like me to explain the reasoning or suggest a priority."),
    "```json\n{j}\n```\nThis ticket matches the category above.",
]


def openai_line(t, model, messages, content, prompt, completion, reasoning=0, extra=None):
    body = {"model": model, "messages": messages}
    resp = {
        "id": "chatcmpl-" + hexid(20), "object": "chat.completion",
        "created": int(t.timestamp()), "model": model_version(model),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0,
                                                "rejected_prediction_tokens": 0}},
        "service_tier": "default",
    }
    line = {"time": rfc3339(t), "provider": "openai", "request": body, "response": resp}
    line.update(extra or {})
    return line


def model_version(model):
    return {"gpt-4o": "gpt-4o-2024-08-06", "o3": "o3-2025-04-16",
            "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}.get(model, model)


def classification_events():
    events = []
    for i in range(30):
        text, label = TICKETS[i % len(TICKETS)]
        t = T0 + timedelta(seconds=150 + i * 241 + rng.randint(0, 60))
        user = ("Classify this support ticket. Respond with JSON only, like {\"category\": \"billing\"}."
                f"\n\nTicket #{48200 + i}: {text}")
        messages = [{"role": "system", "content": CLASSIFIER}, {"role": "user", "content": user}]
        answer = rng.choice(PROSE).format(j=json.dumps({"category": label}))
        prompt = sum(toks(m["content"]) + 4 for m in messages) + 3
        backfill = i % 2 == 1
        extra = {"tags": {"app": "triage", "job": "backfill" if backfill else "live"}}
        if backfill:
            extra["deferrable"] = True
        events.append((t, openai_line(t, "gpt-4o", messages, answer, prompt, toks(answer), 0, extra)))
    return events


# ---- long incident analyses on o3 -------------------------------------------------------

SERVICES = ["api-gateway", "billing-worker", "volume-service", "dns-edge", "scheduler", "auth"]
SYMPTOMS = ["p99 latency 2.4s (baseline 180ms)", "error rate 7.2% on POST /v1/instances",
            "queue depth 48,000 and growing", "disk IOPS saturated on 3 of 12 hosts",
            "TLS handshake failures from 2 edge PoPs", "connection pool exhausted (512/512)",
            "GC pauses of 900ms every 30s", "replication lag 14 minutes on the primary database"]


def incident_log(k):
    lines = []
    for n in range(150):
        h, m = 6 + n // 25, (n * 7) % 60
        lines.append(f"2026-11-{19 + k % 7:02d} {h:02d}:{m:02d} INC-{3100 + k * 40 + n // 8} "
                     f"{rng.choice(SERVICES)} {rng.choice(REGIONS).split()[0]}: "
                     f"{rng.choice(SYMPTOMS)}; on-call {rng.choice(['ack', 'mitigated', 'rolled back', 'paged SRE'])}")
    return "\n".join(lines)


ANALYST = "You are a senior site reliability engineer writing weekly incident reviews for Acme Cloud."


def reasoning_events():
    events = []
    for k in range(6):
        t = T0 + timedelta(minutes=12 + k * 21, seconds=rng.randint(0, 50))
        user = ("Analyze the following week of incident records step by step. Group them by root cause, "
                "estimate customer impact, and recommend the three changes that would have prevented the "
                "most downtime.\n\n" + incident_log(k))
        messages = [{"role": "developer", "content": ANALYST}, {"role": "user", "content": user}]
        summary = ("## Weekly incident review\n\n" + "\n".join(
            f"{i + 1}. {rng.choice(SERVICES)}: {rng.choice(SYMPTOMS)}; root cause traced to a "
            f"configuration change rolled out without canary; {rng.randint(3, 40)} customer-facing minutes."
            for i in range(12)) + "\n\nRecommendations: canary every config push, cap connection pools "
            "per tenant, alert on replication lag above 60 seconds.")
        reasoning = rng.randint(2800, 5200)
        prompt = sum(toks(m["content"]) + 4 for m in messages) + 3
        extra = {"tags": {"app": "sre-reports"}}
        if k % 3 == 2:
            extra["deferrable"] = True
        events.append((t, openai_line(t, "o3", messages, summary, prompt, toks(summary) + reasoning,
                                      reasoning, extra)))
    return events


# ---- a small OpenAI batch (input + output files) ---------------------------------------

PRODUCTS = ["Starter plan", "Team plan", "Business plan", "Managed backups", "Acme DNS"]


def batch_files(outdir):
    created = int((T0 + timedelta(hours=3)).timestamp())
    ins, outs = [], []
    for i, p in enumerate(PRODUCTS):
        cid = f"desc-{i + 1:03d}"
        user = f"Write a two-sentence product description for Acme Cloud's {p} for the pricing page."
        ins.append({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "gpt-4o-mini", "max_tokens": 120,
                             "messages": [{"role": "user", "content": user}]}})
        if i == 3:
            outs.append({"id": f"batch_req_{hexid(12)}", "custom_id": cid,
                         "response": {"status_code": 400, "request_id": "req_" + hexid(12),
                                      "body": {"error": {"message": "max_tokens is too large",
                                                         "type": "invalid_request_error",
                                                         "param": "max_tokens", "code": None}}},
                         "error": None})
            continue
        text = (f"{p}: fast, predictable cloud hosting with transparent per-second billing. "
                "Deploy in minutes in any of six regions and scale when you need to.")
        out_body = {"id": "chatcmpl-" + hexid(20), "object": "chat.completion", "created": created + i * 7,
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": toks(user) + 7, "completion_tokens": toks(text),
                              "total_tokens": toks(user) + 7 + toks(text),
                              "prompt_tokens_details": {"cached_tokens": 0}}}
        outs.append({"id": f"batch_req_{hexid(12)}", "custom_id": cid,
                     "response": {"status_code": 200, "request_id": "req_" + hexid(12), "body": out_body},
                     "error": None})
    outs.reverse()   # output order is not guaranteed to match the input
    write(os.path.join(outdir, "batch-input.jsonl"), ins)
    write(os.path.join(outdir, "batch-output.jsonl"), outs)


def write(path, lines):
    with open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples")
    os.makedirs(outdir, exist_ok=True)
    events = support_events() + classification_events() + reasoning_events()
    events.sort(key=lambda e: e[0])
    write(os.path.join(outdir, "sample-log.jsonl"), [e[1] for e in events])
    batch_files(outdir)
    print(f"{len(events)} calls, system prompt ~{toks(SYSTEM)} tokens -> {outdir}")


if __name__ == "__main__":
    main()
