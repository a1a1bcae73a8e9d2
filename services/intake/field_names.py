"""The names people give our lead fields: in file headers (English and Chinese), in ad platforms'
answer names. Pure: one table and one normalisation, shared by file imports and platform webhooks."""

from __future__ import annotations

import re

from leadrelay.services.intake.validation import LeadIn

LEAD_FIELDS = tuple(name for name in LeadIn.model_fields if name != "attributes")

# Headers people write for our fields, matched after lower-casing and dropping spaces, dashes,
# underscores and dots ("E-mail", "e_mail", "Email Address" all find ``email``). A header that is
# none of these becomes an attribute under its own name.
HEADER_SYNONYMS: dict[str, str] = {
    **{name.replace("_", ""): name for name in LEAD_FIELDS},
    # email
    "email": "email", "emailaddress": "email", "mail": "email", "邮箱": "email", "电子邮件": "email",
    "电子邮箱": "email", "邮件": "email", "邮件地址": "email", "邮箱地址": "email",
    # phone
    "phone": "phone", "mobile": "phone", "mobilephone": "phone", "cellphone": "phone", "cell": "phone",
    "tel": "phone", "telephone": "phone", "phonenumber": "phone", "手机": "phone", "手机号": "phone",
    "手机号码": "phone", "电话": "phone", "电话号码": "phone", "联系电话": "phone", "移动电话": "phone",
    # name
    "name": "name", "fullname": "name", "contact": "name", "contactname": "name", "姓名": "name",
    "名字": "name", "联系人": "name", "客户姓名": "name",
    # company
    "company": "company", "companyname": "company", "organization": "company", "organisation": "company",
    "account": "company", "公司": "company", "公司名称": "company", "单位": "company", "企业": "company",
    "企业名称": "company", "单位名称": "company", "客户名称": "company",
    # title
    "title": "title", "jobtitle": "title", "position": "title", "职位": "title", "职务": "title",
    "头衔": "title",
    # where
    "country": "country", "国家": "country", "国家/地区": "country", "region": "region", "province": "region",
    "state": "region", "省份": "region", "省": "region", "地区": "region", "city": "city", "城市": "city",
    # company facts
    "industry": "industry", "行业": "industry", "所属行业": "industry", "employees": "employees",
    "companysize": "employees", "headcount": "employees", "员工数": "employees", "员工人数": "employees",
    "公司规模": "employees", "website": "website", "url": "website", "网站": "website", "官网": "website",
    "language": "language", "语言": "language",
    # provenance
    "consent": "consent", "同意": "consent", "是否同意": "consent", "externalid": "external_id",
    "id": "external_id", "leadid": "external_id", "线索id": "external_id", "线索编号": "external_id",
}

_HEADER_NOISE = re.compile(r"[\s\-_.()（）:：*]+")


def normalised_header(header: str) -> str:
    return _HEADER_NOISE.sub("", header.strip().lower())
